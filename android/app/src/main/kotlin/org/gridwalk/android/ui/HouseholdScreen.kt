package org.gridwalk.android.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
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
import org.gridwalk.shell.HouseholdModel
import org.gridwalk.shell.RevealKey
import uniffi.gridwalk_core.Resident

/** A household: address, care tags, residents (masked), visit history; reveal asks a purpose. */
@Composable
fun HouseholdScreen(householdId: String, onVisit: (String) -> Unit) {
    val shell = LocalContext.current.shell
    val model = held("household-$householdId") { HouseholdModel(shell.repository, householdId) }
    val state by model.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    var asking by remember { mutableStateOf<RevealKey?>(null) }
    LaunchedEffect(householdId) { model.load() }
    // Full values never outlive the screen.
    DisposableEffect(householdId) { onDispose { model.hide() } }

    Loaded(state.household) { h ->
        LazyColumn {
            item {
                Column(Modifier.padding(16.dp)) {
                    Text(h.address, style = MaterialTheme.typography.titleLarge)
                    if (h.careTags.isNotEmpty()) Text(h.careTags.joinToString(" ") { careTagLabel(it) })
                    if (h.conflicts.isNotEmpty()) {
                        Text(stringResource(R.string.conflicts, h.conflicts.size), color = MaterialTheme.colorScheme.error)
                    }
                    Button(onClick = { onVisit(h.id) }, modifier = Modifier.padding(top = 8.dp)) { Text(stringResource(R.string.start_visit)) }
                }
            }
            item { Text(stringResource(R.string.residents), style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(16.dp)) }
            items(h.residents, key = { it.id }) { r -> ResidentLine(r, state.revealed) { field -> asking = RevealKey(r.id, field) } }
            item { Text(stringResource(R.string.visit_history), style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(16.dp)) }
            items(state.visits, key = { it.id }) { v ->
                ListItem(
                    headlineContent = { Text(dateTime(v.startedMs)) },
                    supportingContent = { Text(outcomeLabel(v.outcome) + if (v.notes.isNotBlank()) " · ${v.notes}" else "") },
                )
                HorizontalDivider()
            }
        }
    }

    asking?.let { key ->
        var purpose by remember(key) { mutableStateOf("") }
        AlertDialog(
            onDismissRequest = { asking = null },
            title = { Text(stringResource(R.string.reveal_title)) },
            text = {
                Column {
                    Text(stringResource(R.string.reveal_explain))
                    OutlinedTextField(purpose, { purpose = it }, label = { Text(stringResource(R.string.reveal_purpose)) })
                    state.revealError?.let { Text(it, color = MaterialTheme.colorScheme.error) }
                }
            },
            confirmButton = {
                TextButton(onClick = {
                    scope.launch {
                        model.reveal(key.residentId, key.field, purpose)
                        if (model.state.value.revealed.containsKey(key)) asking = null
                    }
                }) { Text(stringResource(R.string.reveal_confirm)) }
            },
            dismissButton = { TextButton(onClick = { asking = null }) { Text(stringResource(R.string.cancel)) } },
        )
    }
}

@Composable
private fun ResidentLine(r: Resident, revealed: Map<RevealKey, String>, onReveal: (String) -> Unit) {
    ListItem(
        headlineContent = { Text("${r.name}  ${r.relation}") },
        supportingContent = {
            Column {
                r.idNumberMasked?.let { masked ->
                    Row {
                        Text(stringResource(R.string.id_number, revealed[RevealKey(r.id, "id_number")] ?: masked))
                        if (!revealed.containsKey(RevealKey(r.id, "id_number"))) {
                            TextButton(onClick = { onReveal("id_number") }) { Text(stringResource(R.string.reveal)) }
                        }
                    }
                }
                r.phoneMasked?.let { masked ->
                    Row {
                        Text(stringResource(R.string.phone, revealed[RevealKey(r.id, "phone")] ?: masked))
                        if (!revealed.containsKey(RevealKey(r.id, "phone"))) {
                            TextButton(onClick = { onReveal("phone") }) { Text(stringResource(R.string.reveal)) }
                        }
                    }
                }
            }
        },
    )
}
