package org.gridwalk.shell

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import uniffi.gridwalk_core.AnswerValue
import uniffi.gridwalk_core.Location
import uniffi.gridwalk_core.NeedInput
import uniffi.gridwalk_core.Visit
import uniffi.gridwalk_core.VisitInput
import uniffi.gridwalk_core.VisitOutcome
import uniffi.gridwalk_ffi.GridException
import uniffi.gridwalk_ffi.visibleFields

/** The visit form screen. */
data class VisitFormState(
    val form: Loadable<FormSpec> = Loadable.Loading,
    val answers: Map<String, AnswerValue> = emptyMap(),
    /** Ids of the fields shown for [answers], in form order, as the core decides (visibleFields). */
    val visibleIds: List<String> = emptyList(),
    val outcome: VisitOutcome = VisitOutcome.MET,
    val present: List<String> = emptyList(),
    val needs: List<NeedInput> = emptyList(),
    val photos: List<String> = emptyList(),
    val notes: String = "",
    val location: Location? = null,
    /** Field id → the core's message, from the last save. */
    val fieldErrors: Map<String, String> = emptyMap(),
    /** Messages not tied to a form field (outcome, needs, photos…). */
    val formErrors: List<String> = emptyList(),
    val saving: Boolean = false,
    val saved: Visit? = null,
) {
    /** The sections with only their shown fields; sections with none are left out. */
    val visibleSections: List<FormSection>
        get() {
            val spec = (form as? Loadable.Ready)?.value ?: return emptyList()
            val shown = visibleIds.toSet()
            return spec.sections
                .map { s -> s.copy(fields = s.fields.filter { it.id in shown }) }
                .filter { it.fields.isNotEmpty() }
        }

    /** The answers of shown fields: what is sent. Answers of hidden fields are kept, not sent. */
    val shownAnswers: Map<String, AnswerValue>
        get() {
            val shown = visibleIds.toSet()
            return answers.filterKeys { it in shown }
        }
}

/**
 * A visit to one household with a form rendered from its definition (the four questions, or
 * any form the office publishes). The core decides which fields are shown (visibleFields, asked
 * again at every answer) with the same rule it validates by. Saving hands the shown answers to
 * GridStore.recordVisit, which validates; its per-field errors come back into
 * [VisitFormState.fieldErrors].
 */
class VisitFormModel(
    private val repo: GridRepository,
    val householdId: String,
    val formId: String = "four_questions",
    private val clock: () -> Long = System::currentTimeMillis,
) {
    private val startedMs = clock()
    private val _state = MutableStateFlow(VisitFormState())
    val state: StateFlow<VisitFormState> = _state.asStateFlow()

    suspend fun load() {
        // visibleFields checks the definition: a malformed one fails the load here, so the same
        // JSON cannot make it fail later in [answer].
        val form = loading { FormSpec.parse(repo.currentFormJson(formId)).also { visibleFields(it.json, emptyMap()) } }
        _state.update { it.copy(form = form, visibleIds = visibleIds(form, it.answers)) }
    }

    /**
     * Sets (or with null clears) one answer; its old error goes away and the core says again
     * which fields are shown (no store involved: quick enough for every keystroke).
     */
    fun answer(fieldId: String, value: AnswerValue?) = _state.update {
        val answers = if (value == null) it.answers - fieldId else it.answers + (fieldId to value)
        it.copy(answers = answers, visibleIds = visibleIds(it.form, answers), fieldErrors = it.fieldErrors - fieldId)
    }

    fun outcome(outcome: VisitOutcome) = _state.update { it.copy(outcome = outcome) }
    fun notes(notes: String) = _state.update { it.copy(notes = notes) }
    fun present(residentIds: List<String>) = _state.update { it.copy(present = residentIds) }
    fun location(location: Location?) = _state.update { it.copy(location = location) }
    fun addNeed(need: NeedInput) = _state.update { it.copy(needs = it.needs + need) }
    fun removeNeed(index: Int) = _state.update { it.copy(needs = it.needs.filterIndexed { i, _ -> i != index }) }

    /** Stores a photo's JPEG bytes (encrypted, in the store) and attaches it to the visit. */
    suspend fun addPhoto(jpeg: ByteArray) {
        try {
            val hash = repo.addPhoto(jpeg)
            _state.update { it.copy(photos = it.photos + hash) }
        } catch (e: GridException) {
            _state.update { it.copy(formErrors = listOf(messageOf(e))) }
        }
    }

    /** Saves the visit; returns whether it was saved. Nothing is saved when the core refuses. */
    suspend fun save(): Boolean {
        val s = _state.value
        val spec = (s.form as? Loadable.Ready)?.value ?: return false
        _state.update { it.copy(saving = true, fieldErrors = emptyMap(), formErrors = emptyList()) }
        val input = VisitInput(
            householdId = householdId,
            startedMs = startedMs,
            endedMs = clock(),
            outcome = s.outcome,
            present = s.present,
            location = s.location,
            formId = spec.id,
            formVersion = spec.version,
            answers = s.shownAnswers,
            needs = s.needs,
            photos = s.photos,
            notes = s.notes,
        )
        return try {
            val visit = repo.recordVisit(input)
            _state.update { it.copy(saving = false, saved = visit) }
            true
        } catch (e: GridException.InvalidInput) {
            val (fields, others) = e.errors.partition { it.field.startsWith(ANSWERS) }
            _state.update {
                it.copy(
                    saving = false,
                    fieldErrors = fields.associate { err -> err.field.removePrefix(ANSWERS) to err.message },
                    formErrors = others.map { err -> err.message },
                )
            }
            false
        } catch (e: GridException) {
            _state.update { it.copy(saving = false, formErrors = listOf(messageOf(e))) }
            false
        }
    }

    private companion object {
        const val ANSWERS = "answers."

        fun visibleIds(form: Loadable<FormSpec>, answers: Map<String, AnswerValue>): List<String> =
            (form as? Loadable.Ready)?.value?.let { visibleFields(it.json, answers) }.orEmpty()
    }
}

internal fun messageOf(e: GridException): String = when (e) {
    is GridException.InvalidInput -> e.errors.joinToString("\n") { it.message }
    else -> e.message ?: e.toString()
}
