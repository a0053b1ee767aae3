package org.gridwalk.android.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AssistChip
import androidx.compose.material3.Badge
import androidx.compose.material3.ExtendedFloatingActionButton
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.gridwalk.android.R
import org.gridwalk.android.shell
import org.gridwalk.shell.GridListModel
import org.gridwalk.shell.HouseholdListModel
import org.gridwalk.shell.HouseholdRow

@Composable
fun GridListScreen(onGrid: (String) -> Unit) {
    val shell = LocalContext.current.shell
    val model = held("grids") { GridListModel(shell.repository) }
    val state by model.state.collectAsStateWithLifecycle()
    LaunchedEffect(Unit) { model.load() }
    Loaded(state) { grids ->
        LazyColumn {
            items(grids, key = { it.id }) { g ->
                ListItem(
                    headlineContent = { Text(g.name) },
                    supportingContent = { Text(stringResource(R.string.grid_counts, g.households, g.visitedThisMonth)) },
                    modifier = Modifier.clickable { onGrid(g.id) },
                )
                HorizontalDivider()
            }
        }
    }
}

/** The buildings of a grid, each with how many households are due for a visit. */
@Composable
fun GridScreen(gridId: String, onBuilding: (String) -> Unit, onSnap: () -> Unit) {
    val shell = LocalContext.current.shell
    val model = held("grid-$gridId") { HouseholdListModel(shell.repository, gridId) }
    val state by model.state.collectAsStateWithLifecycle()
    LaunchedEffect(gridId) { model.load() }
    Scaffold(floatingActionButton = {
        ExtendedFloatingActionButton(onClick = onSnap) { Text(stringResource(R.string.snap_report)) }
    }) { padding ->
        Loaded(state) { buildings ->
            LazyColumn(Modifier.padding(padding)) {
                items(buildings, key = { it.buildingId }) { b ->
                    ListItem(
                        headlineContent = { Text(b.name) },
                        supportingContent = { Text(stringResource(R.string.building_counts, b.units.size, b.householdCount)) },
                        trailingContent = { if (b.dueCount > 0) DueBadge(b.dueCount) },
                        modifier = Modifier.clickable { onBuilding(b.buildingId) },
                    )
                    HorizontalDivider()
                }
            }
        }
    }
}

/** The households of one building by unit, with the due-for-visit marker. */
@Composable
fun BuildingScreen(gridId: String, buildingId: String, onHousehold: (String) -> Unit) {
    val shell = LocalContext.current.shell
    val model = held("grid-$gridId") { HouseholdListModel(shell.repository, gridId) }
    val state by model.state.collectAsStateWithLifecycle()
    LaunchedEffect(gridId) { model.load() }
    Loaded(state) { buildings ->
        val building = buildings.firstOrNull { it.buildingId == buildingId } ?: return@Loaded
        LazyColumn {
            item { Text(building.name, style = MaterialTheme.typography.headlineSmall, modifier = Modifier.padding(16.dp)) }
            building.units.forEach { unit ->
                item(key = "unit-${unit.unit}") {
                    Text(
                        stringResource(R.string.unit_title, unit.unit, unit.dueCount),
                        style = MaterialTheme.typography.titleSmall,
                        modifier = Modifier.padding(horizontal = 16.dp, vertical = 8.dp),
                    )
                }
                items(unit.households, key = { it.household.id }) { row -> HouseholdLine(row) { onHousehold(row.household.id) } }
            }
        }
    }
}

@Composable
private fun HouseholdLine(row: HouseholdRow, onClick: () -> Unit) {
    val h = row.household
    ListItem(
        headlineContent = { Text(stringResource(R.string.door, h.door) + (h.headName?.let { "  $it" } ?: "")) },
        supportingContent = {
            Column {
                Text(
                    h.lastVisitMs?.let { stringResource(R.string.last_visit, dateTime(it)) }
                        ?: stringResource(R.string.never_visited),
                )
                if (h.conflictCount > 0u) Text(stringResource(R.string.conflicts, h.conflictCount.toInt()), color = MaterialTheme.colorScheme.error)
            }
        },
        trailingContent = {
            Row {
                if (row.due) AssistChip(onClick = onClick, label = { Text(stringResource(R.string.due_for_visit)) })
            }
        },
        modifier = Modifier.fillMaxWidth().clickable(onClick = onClick),
    )
}

@Composable
private fun DueBadge(count: Int) {
    Badge { Text(stringResource(R.string.due_count, count)) }
}
