package org.gridwalk.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import org.gridwalk.android.R
import org.gridwalk.android.shell

/** Sync by hand on any network: phases as they happen, then whether everything is uploaded. */
@Composable
fun SyncScreen(onRevoked: () -> Unit) {
    val shell = LocalContext.current.shell
    val model = held("sync") { shell.syncModel() }
    val state by model.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    LaunchedEffect(Unit) { withContext(Dispatchers.IO) { model.refresh() } }
    LaunchedEffect(state.revoked) { if (state.revoked) onRevoked() }

    Column(Modifier.padding(16.dp).fillMaxWidth(), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text(
            stringResource(if (state.everythingUploaded) R.string.everything_uploaded else R.string.not_everything_uploaded),
            style = MaterialTheme.typography.titleLarge,
            color = if (state.everythingUploaded) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.error,
        )
        state.step?.let { s ->
            if (state.running) LinearProgressIndicator(Modifier.fillMaxWidth())
            Text(stringResource(R.string.sync_phase, stageLabel(s.stage), s.round))
            Text(stringResource(R.string.sync_documents, s.documentsUp, s.documentsDown))
            Text(stringResource(R.string.sync_bytes, s.bytesUp / 1024, s.bytesDown / 1024))
        }
        state.photos?.let { Text(stringResource(R.string.sync_photos, it.uploaded, it.downloaded)) }
        if (state.offline) Text(stringResource(R.string.sync_offline), color = MaterialTheme.colorScheme.error)
        state.error?.takeUnless { state.offline }?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        if (state.running) {
            OutlinedButton(onClick = model::cancel) { Text(stringResource(R.string.cancel)) }
        } else {
            Button(onClick = { scope.launch { shell.syncLock.withLock { model.run() } } }) { Text(stringResource(R.string.sync_now)) }
        }
    }
}
