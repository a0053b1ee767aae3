@file:OptIn(androidx.compose.foundation.layout.ExperimentalLayoutApi::class)

package org.gridwalk.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
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
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.gridwalk.android.R
import org.gridwalk.android.shell
import org.gridwalk.shell.FieldType
import org.gridwalk.shell.FormField
import org.gridwalk.shell.VisitFormModel
import uniffi.gridwalk_core.AnswerValue
import uniffi.gridwalk_core.VisitOutcome

/**
 * The visit form, rendered from whatever form definition the store holds: one widget per field
 * type, the fields the core says are shown (VisitFormState.visibleSections), the core's messages
 * under each field.
 */
@Composable
fun VisitFormScreen(householdId: String, onSaved: () -> Unit) {
    val shell = LocalContext.current.shell
    val model = held("visit-$householdId") { VisitFormModel(shell.repository, householdId) }
    val state by model.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    LaunchedEffect(householdId) { model.load() }
    LaunchedEffect(state.saved) { if (state.saved != null) onSaved() }

    Loaded(state.form) { form ->
        LazyColumn(Modifier.padding(horizontal = 16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
            item { Text(form.title, style = MaterialTheme.typography.headlineSmall) }
            item {
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    VisitOutcome.entries.forEach { o ->
                        FilterChip(selected = state.outcome == o, onClick = { model.outcome(o) }, label = { Text(outcomeLabel(o)) })
                    }
                }
            }
            if (state.outcome == VisitOutcome.MET) {
                state.visibleSections.forEach { section ->
                    item(key = "s-${section.id}") { Text(section.title, style = MaterialTheme.typography.titleMedium) }
                    items(section.fields, key = { it.id }) { field ->
                        FieldInput(field, state.answers[field.id], state.fieldErrors[field.id]) { model.answer(field.id, it) }
                    }
                }
            }
            item {
                OutlinedTextField(state.notes, model::notes, label = { Text(stringResource(R.string.notes)) }, modifier = Modifier.fillMaxWidth())
            }
            items(state.formErrors) { Text(it, color = MaterialTheme.colorScheme.error) }
            item {
                Button(enabled = !state.saving, onClick = { scope.launch { model.save() } }, modifier = Modifier.fillMaxWidth()) {
                    Text(stringResource(R.string.save_visit))
                }
            }
        }
    }
}

@Composable
private fun FieldInput(field: FormField, answer: AnswerValue?, error: String?, onAnswer: (AnswerValue?) -> Unit) {
    Column(Modifier.fillMaxWidth()) {
        Text(field.label + if (field.required) " *" else "", style = MaterialTheme.typography.bodyLarge)
        field.hint?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
        when (field.type) {
            FieldType.SINGLE -> FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                field.options.forEach { o ->
                    val chosen = (answer as? AnswerValue.Choice)?.v1 == o.value
                    FilterChip(chosen, onClick = { onAnswer(if (chosen) null else AnswerValue.Choice(o.value)) }, label = { Text(o.label) })
                }
            }
            FieldType.MULTI -> FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                val chosen = (answer as? AnswerValue.Choices)?.v1.orEmpty()
                field.options.forEach { o ->
                    val on = o.value in chosen
                    FilterChip(on, onClick = {
                        val next = if (on) chosen - o.value else chosen + o.value
                        onAnswer(if (next.isEmpty()) null else AnswerValue.Choices(next))
                    }, label = { Text(o.label) })
                }
            }
            FieldType.YES_NO -> Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                val v = (answer as? AnswerValue.YesNo)?.v1
                FilterChip(v == true, onClick = { onAnswer(AnswerValue.YesNo(true)) }, label = { Text(stringResource(R.string.yes)) })
                FilterChip(v == false, onClick = { onAnswer(AnswerValue.YesNo(false)) }, label = { Text(stringResource(R.string.no)) })
            }
            FieldType.NUMBER -> {
                // The typed text is kept as typed; only a parsable number becomes an answer.
                var text by remember(field.id) { mutableStateOf((answer as? AnswerValue.Number)?.v1?.let(::plain).orEmpty()) }
                OutlinedTextField(
                    text,
                    { t -> text = t; onAnswer(t.trim().toDoubleOrNull()?.let(AnswerValue::Number)) },
                    keyboardOptions = KeyboardOptions(keyboardType = if (field.integer) KeyboardType.Number else KeyboardType.Decimal),
                    isError = error != null,
                    modifier = Modifier.fillMaxWidth(),
                )
            }
            FieldType.DATE -> OutlinedTextField(
                (answer as? AnswerValue.Date)?.v1.orEmpty(),
                { t -> onAnswer(if (t.isBlank()) null else AnswerValue.Date(t.trim())) },
                placeholder = { Text(stringResource(R.string.date_placeholder)) },
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number),
                isError = error != null,
                modifier = Modifier.fillMaxWidth(),
            )
            FieldType.TEXT, FieldType.ID_NUMBER, FieldType.PHONE -> OutlinedTextField(
                (answer as? AnswerValue.Text)?.v1.orEmpty(),
                { t -> onAnswer(if (t.isEmpty()) null else AnswerValue.Text(t)) },
                keyboardOptions = KeyboardOptions(
                    keyboardType = when (field.type) {
                        FieldType.PHONE -> KeyboardType.Phone
                        FieldType.ID_NUMBER -> KeyboardType.Ascii
                        else -> KeyboardType.Text
                    },
                ),
                isError = error != null,
                modifier = Modifier.fillMaxWidth(),
            )
        }
        error?.let { Text(it, color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall) }
    }
}

private fun plain(d: Double): String = if (d % 1.0 == 0.0) d.toLong().toString() else d.toString()
