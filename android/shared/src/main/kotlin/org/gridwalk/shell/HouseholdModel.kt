package org.gridwalk.shell

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import uniffi.gridwalk_core.Household
import uniffi.gridwalk_core.Visit
import uniffi.gridwalk_ffi.GridException

/** A revealed personal value: which resident and field. */
data class RevealKey(val residentId: String, val field: String)

/** The household detail screen. */
data class HouseholdState(
    val household: Loadable<Household> = Loadable.Loading,
    val visits: List<Visit> = emptyList(),
    /** Values shown in full after a stated purpose; residents arrive masked. */
    val revealed: Map<RevealKey, String> = emptyMap(),
    /** The core's message when a reveal was refused (e.g. no purpose given). */
    val revealError: String? = null,
)

/**
 * A household with masked resident data. Showing a full ID number or phone asks the worker for
 * a purpose; the core checks it and writes the access log, so the shell keeps the value only in
 * memory and only until [hide].
 */
class HouseholdModel(private val repo: GridRepository, val householdId: String) {
    private val _state = MutableStateFlow(HouseholdState())
    val state: StateFlow<HouseholdState> = _state.asStateFlow()

    suspend fun load() {
        when (val loaded = loading { repo.household(householdId) to repo.visitHistory(householdId) }) {
            is Loadable.Ready -> _state.update { it.copy(household = Loadable.Ready(loaded.value.first), visits = loaded.value.second) }
            is Loadable.Failed -> _state.update { it.copy(household = loaded) }
            Loadable.Loading -> Unit
        }
    }

    /** Asks the core for the full value of `field` (`id_number`, `phone`) for `purpose`. */
    suspend fun reveal(residentId: String, field: String, purpose: String) {
        try {
            val value = repo.reveal(residentId, field, purpose)
            _state.update { it.copy(revealed = it.revealed + (RevealKey(residentId, field) to value), revealError = null) }
        } catch (e: GridException.InvalidInput) {
            _state.update { it.copy(revealError = e.errors.joinToString("\n") { err -> err.message }) }
        } catch (e: GridException) {
            _state.update { it.copy(revealError = e.message) }
        }
    }

    /** Masks everything again (on leaving the screen or after a timeout). */
    fun hide() = _state.update { it.copy(revealed = emptyMap(), revealError = null) }
}
