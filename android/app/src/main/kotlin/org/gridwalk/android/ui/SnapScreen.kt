@file:OptIn(androidx.compose.foundation.layout.ExperimentalLayoutApi::class)

package org.gridwalk.android.ui

import android.net.Uri
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.core.content.FileProvider
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.gridwalk.android.R
import org.gridwalk.android.shell
import org.gridwalk.shell.SnapReportModel

/**
 * 随手拍: the system camera writes a JPEG into our cache; its bytes go to the store
 * (addCameraPhoto re-encodes it and strips location metadata) and the file is deleted at once.
 */
@Composable
fun SnapScreen(gridId: String, onFiled: () -> Unit) {
    val context = LocalContext.current
    val shell = context.shell
    val model = held("snap-$gridId") { SnapReportModel(shell.events, gridId) }
    val state by model.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    val photoFile = remember { File(context.cacheDir, "camera/snap.jpg").apply { parentFile?.mkdirs() } }
    val photoUri: Uri = remember { FileProvider.getUriForFile(context, "${context.packageName}.photos", photoFile) }
    val camera = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { taken ->
        if (taken) {
            scope.launch {
                val bytes = withContext(Dispatchers.IO) { photoFile.readBytes().also { photoFile.delete() } }
                model.addPhoto(bytes)
            }
        }
    }
    LaunchedEffect(gridId) { model.load() }
    LaunchedEffect(state.filed) { if (state.filed != null) onFiled() }

    val draft = state.draft
    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(stringResource(R.string.snap_report), style = MaterialTheme.typography.headlineSmall)
        OutlinedButton(onClick = { camera.launch(photoUri) }) {
            Text(stringResource(R.string.take_photo, draft.photos.size))
        }
        Text(stringResource(R.string.category))
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            state.categories.forEach { c ->
                FilterChip(draft.category == c.code, onClick = { model.edit { it.copy(category = c.code) } }, label = { Text(c.name) })
            }
        }
        state.fieldErrors["category"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        OutlinedTextField(
            draft.placeText, { t -> model.edit { it.copy(placeText = t) } },
            label = { Text(stringResource(R.string.place)) },
            isError = "place" in state.fieldErrors || "place.text" in state.fieldErrors,
            modifier = Modifier.fillMaxWidth(),
        )
        (state.fieldErrors["place"] ?: state.fieldErrors["place.text"])?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        OutlinedTextField(
            draft.description, { t -> model.edit { it.copy(description = t) } },
            label = { Text(stringResource(R.string.description)) },
            isError = "description" in state.fieldErrors,
            minLines = 3,
            modifier = Modifier.fillMaxWidth(),
        )
        state.fieldErrors["description"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(onClick = { scope.launch { model.file() } }, modifier = Modifier.fillMaxWidth()) {
            Text(stringResource(R.string.file_report))
        }
    }

    if (state.duplicates.isNotEmpty()) {
        AlertDialog(
            onDismissRequest = model::dismissDuplicates,
            title = { Text(stringResource(R.string.possible_duplicates)) },
            text = {
                Column {
                    state.duplicates.forEach { Text("${statusLabel(it.status)} · ${dateTime(it.createdMs)}") }
                }
            },
            confirmButton = { TextButton(onClick = { scope.launch { model.file(confirmed = true) } }) { Text(stringResource(R.string.file_anyway)) } },
            dismissButton = { TextButton(onClick = model::dismissDuplicates) { Text(stringResource(R.string.cancel)) } },
        )
    }
}
