package org.gridwalk.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
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

/** First start (or after a revocation): the office address and the one-time enrolment code. */
@Composable
fun EnrolScreen(onEnrolled: () -> Unit) {
    val shell = LocalContext.current.shell
    var url by remember { mutableStateOf("https://") }
    var code by remember { mutableStateOf("") }
    val model = held("enrol") { shell.enrolModel() }
    val state by model.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    LaunchedEffect(state.done) { if (state.done != null) onEnrolled() }
    Column(Modifier.padding(24.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text(stringResource(R.string.enrol_title), style = MaterialTheme.typography.headlineSmall)
        OutlinedTextField(url, { url = it }, label = { Text(stringResource(R.string.office_address)) },
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri), modifier = Modifier.fillMaxWidth())
        OutlinedTextField(code, { code = it }, label = { Text(stringResource(R.string.enrol_code)) }, modifier = Modifier.fillMaxWidth())
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(enabled = !state.busy, onClick = { scope.launch { model.enrol(url, code) } }, modifier = Modifier.fillMaxWidth()) {
            Text(stringResource(R.string.enrol))
        }
    }
}
