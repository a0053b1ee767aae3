@file:OptIn(androidx.compose.foundation.layout.ExperimentalLayoutApi::class)

package org.gridwalk.android.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.FilterChip
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.gridwalk.android.R
import org.gridwalk.android.shell
import org.gridwalk.shell.EventDetailModel
import org.gridwalk.shell.EventListModel
import org.gridwalk.shell.EventStatus
import org.gridwalk.shell.EventStep

/** Events in the person's scope: status and time to the deadline; overdue ones marked. */
@Composable
fun EventListScreen(onEvent: (String) -> Unit) {
    val shell = LocalContext.current.shell
    val model = held("events") { EventListModel(shell.events, gridId = null) }
    val state by model.state.collectAsStateWithLifecycle()
    var filter by remember { mutableStateOf<EventStatus?>(null) }
    LaunchedEffect(filter) { model.load(filter) }
    Column {
        FlowRow(Modifier.padding(8.dp), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            FilterChip(filter == null, onClick = { filter = null }, label = { Text(stringResource(R.string.all)) })
            EventStatus.entries.forEach { s -> FilterChip(filter == s, onClick = { filter = s }, label = { Text(statusLabel(s)) }) }
        }
        Loaded(state) { rows ->
            LazyColumn {
                items(rows, key = { it.event.id }) { row ->
                    ListItem(
                        headlineContent = { Text("${row.event.category} · ${statusLabel(row.event.status)}") },
                        supportingContent = {
                            Text(
                                row.msLeft?.let { timeLeft(it) } ?: stringResource(R.string.closed_no_deadline),
                                color = if (row.overdue) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurfaceVariant,
                            )
                        },
                        trailingContent = { if (row.overdue) Text(stringResource(R.string.overdue), color = MaterialTheme.colorScheme.error) },
                        modifier = Modifier.clickable { onEvent(row.event.id) },
                    )
                    HorizontalDivider()
                }
            }
        }
    }
}

/** One event: description, history, working time left, and the steps (the core decides who may). */
@Composable
fun EventDetailScreen(eventId: String) {
    val shell = LocalContext.current.shell
    val model = held("event-$eventId") { EventDetailModel(shell.events, eventId) }
    val state by model.state.collectAsStateWithLifecycle()
    val error by model.error.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    var note by remember { mutableStateOf("") }
    LaunchedEffect(eventId) { model.load() }
    Loaded(state) { e ->
        LazyColumn(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
            item {
                Text("${e.line.category} · ${statusLabel(e.line.status)}", style = MaterialTheme.typography.titleLarge)
                Text(e.placeText)
                Text(e.description)
                e.department?.let { Text(stringResource(R.string.department, it)) }
                if (e.line.status != EventStatus.CLOSED) {
                    Text(
                        stringResource(R.string.working_time_left, timeLeft(e.workingMinutesLeft * 60_000)),
                        color = if (e.overdue) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurface,
                    )
                }
            }
            items(e.history) { h ->
                Text("${dateTime(h.atMs)} ${stepLabel(h.step)} → ${statusLabel(h.statusAfter)} ${h.note}", style = MaterialTheme.typography.bodySmall)
            }
            item {
                OutlinedTextField(note, { note = it }, label = { Text(stringResource(R.string.step_note)) }, modifier = Modifier.fillMaxWidth())
                error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    EventStep.entries.filter { it != EventStep.FEEDBACK }.forEach { step ->
                        OutlinedButton(onClick = { scope.launch { model.step(step, note); note = "" } }) { Text(stepLabel(step)) }
                    }
                }
            }
        }
    }
}
