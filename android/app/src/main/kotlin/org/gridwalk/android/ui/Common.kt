package org.gridwalk.android.ui

import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewmodel.compose.viewModel
import org.gridwalk.android.R
import org.gridwalk.shell.Loadable

/** Keeps a plain :shared model across configuration changes (rotation). */
class Held<T : Any>(val model: T) : ViewModel()

/** The model for `key`, made once per screen instance. */
@Composable
inline fun <reified T : Any> held(key: String, noinline create: () -> T): T =
    viewModel<Held<T>>(key = key) { Held(create()) }.model

/** Shows a spinner, the core's error message, or the content. */
@Composable
fun <T> Loaded(state: Loadable<T>, content: @Composable (T) -> Unit) {
    when (state) {
        Loadable.Loading -> Box(Modifier.fillMaxSize(), contentAlignment = Alignment.Center) { CircularProgressIndicator() }
        is Loadable.Failed -> Text(state.message, color = MaterialTheme.colorScheme.error, modifier = Modifier.padding(16.dp))
        is Loadable.Ready -> content(state.value)
    }
}

/** "剩余 3小时20分" / "已超时 1小时5分" (wall-clock; the event detail shows working minutes). */
@Composable
fun timeLeft(ms: Long): String {
    val minutes = kotlin.math.abs(ms) / 60_000
    val span = stringResource(R.string.duration_hm, minutes / 60, minutes % 60)
    return if (ms >= 0) stringResource(R.string.time_left, span) else stringResource(R.string.time_overdue, span)
}

/** A date and time as the workers read it (Asia/Shanghai on their phones). */
fun dateTime(ms: Long): String =
    java.text.SimpleDateFormat("yyyy-MM-dd HH:mm", java.util.Locale.CHINA).format(java.util.Date(ms))
