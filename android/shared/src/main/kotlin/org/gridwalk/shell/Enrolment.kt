package org.gridwalk.shell

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import uniffi.gridwalk_ffi.GridException

/** What enrolment gives this device (the core's Enrolment). */
data class Credential(val token: String, val personId: String, val role: String, val scope: List<String>)

/** Trades an office enrolment code for a credential (the `enrol` export). */
fun interface Enroller {
    suspend fun enrol(baseUrl: String, code: String): Credential
}

/** The enrolment screen: office address and the one-time code from the office. */
data class EnrolState(val busy: Boolean = false, val error: String? = null, val done: Credential? = null)

/**
 * Enrols the device. [keep] is the platform glue: it puts the token in the Keystore/Keychain
 * and records the identity in the store.
 */
class EnrolModel(private val enroller: Enroller, private val keep: suspend (Credential) -> Unit) {
    private val _state = MutableStateFlow(EnrolState())
    val state: StateFlow<EnrolState> = _state.asStateFlow()

    suspend fun enrol(baseUrl: String, code: String) {
        _state.value = EnrolState(busy = true)
        _state.value = try {
            val credential = enroller.enrol(baseUrl.trim(), code.trim())
            keep(credential)
            EnrolState(done = credential)
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            // A wrong code, a refused device or no network: the message says which.
            EnrolState(error = (e as? GridException)?.let(::messageOf) ?: e.message ?: e.toString())
        }
    }
}
