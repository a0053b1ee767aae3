package org.gridwalk.android

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Icon
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.navigation.NavHostController
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.currentBackStackEntryAsState
import androidx.navigation.compose.rememberNavController
import org.gridwalk.android.ui.BuildingScreen
import org.gridwalk.android.ui.EnrolScreen
import org.gridwalk.android.ui.EventDetailScreen
import org.gridwalk.android.ui.EventListScreen
import org.gridwalk.android.ui.GridListScreen
import org.gridwalk.android.ui.GridScreen
import org.gridwalk.android.ui.HouseholdScreen
import org.gridwalk.android.ui.SnapScreen
import org.gridwalk.android.ui.SyncScreen
import org.gridwalk.android.ui.VisitFormScreen

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent { MaterialTheme { GridwalkNav() } }
    }
}

/** Routes. Arguments are ids only; every screen loads what it shows from the store. */
object Routes {
    const val ENROL = "enrol"
    const val GRIDS = "grids"
    const val GRID = "grid/{gridId}"
    const val BUILDING = "grid/{gridId}/building/{buildingId}"
    const val HOUSEHOLD = "household/{householdId}"
    const val VISIT = "visit/{householdId}"
    const val SNAP = "snap/{gridId}"
    const val EVENTS = "events"
    const val EVENT = "event/{eventId}"
    const val SYNC = "sync"

    fun grid(id: String) = "grid/$id"
    fun building(gridId: String, id: String) = "grid/$gridId/building/$id"
    fun household(id: String) = "household/$id"
    fun visit(householdId: String) = "visit/$householdId"
    fun snap(gridId: String) = "snap/$gridId"
    fun event(id: String) = "event/$id"
}

@Composable
fun GridwalkNav() {
    val shell = LocalContext.current.shell
    var enrolled by remember { mutableStateOf(shell.enrolled) }
    val nav = rememberNavController()
    if (!enrolled) {
        EnrolScreen(onEnrolled = { enrolled = true })
        return
    }
    Scaffold(bottomBar = { BottomBar(nav) }) { padding ->
        NavHost(nav, startDestination = Routes.GRIDS, modifier = Modifier.padding(padding)) {
            composable(Routes.GRIDS) { GridListScreen(onGrid = { nav.navigate(Routes.grid(it)) }) }
            composable(Routes.GRID) { e ->
                val gridId = e.arguments?.getString("gridId").orEmpty()
                GridScreen(gridId, onBuilding = { nav.navigate(Routes.building(gridId, it)) }, onSnap = { nav.navigate(Routes.snap(gridId)) })
            }
            composable(Routes.BUILDING) { e ->
                BuildingScreen(
                    e.arguments?.getString("gridId").orEmpty(),
                    e.arguments?.getString("buildingId").orEmpty(),
                    onHousehold = { nav.navigate(Routes.household(it)) },
                )
            }
            composable(Routes.HOUSEHOLD) { e ->
                HouseholdScreen(e.arguments?.getString("householdId").orEmpty(), onVisit = { nav.navigate(Routes.visit(it)) })
            }
            composable(Routes.VISIT) { e ->
                VisitFormScreen(e.arguments?.getString("householdId").orEmpty(), onSaved = { nav.popBackStack() })
            }
            composable(Routes.SNAP) { e ->
                SnapScreen(e.arguments?.getString("gridId").orEmpty(), onFiled = { nav.popBackStack() })
            }
            composable(Routes.EVENTS) { EventListScreen(onEvent = { nav.navigate(Routes.event(it)) }) }
            composable(Routes.EVENT) { e -> EventDetailScreen(e.arguments?.getString("eventId").orEmpty()) }
            composable(Routes.SYNC) { SyncScreen(onRevoked = { enrolled = false }) }
        }
    }
}

@Composable
private fun BottomBar(nav: NavHostController) {
    val current = nav.currentBackStackEntryAsState().value?.destination?.route
    NavigationBar {
        listOf(
            Routes.GRIDS to R.string.tab_grids,
            Routes.EVENTS to R.string.tab_events,
            Routes.SYNC to R.string.tab_sync,
        ).forEach { (route, label) ->
            NavigationBarItem(
                selected = current == route,
                onClick = { nav.navigate(route) { popUpTo(Routes.GRIDS); launchSingleTop = true } },
                icon = { Icon(painter = androidx.compose.ui.res.painterResource(android.R.drawable.ic_menu_agenda), contentDescription = null) },
                label = { Text(stringResource(label)) },
            )
        }
    }
}
