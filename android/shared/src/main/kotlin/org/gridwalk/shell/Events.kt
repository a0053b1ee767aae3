package org.gridwalk.shell

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.withContext
import uniffi.gridwalk_ffi.GridException

/*
 * Events (随手拍, needs, disputes) and their closed loop. The screens talk to [EventDesk], a port
 * over GridStore's event exports (reportEvent, event, stepEvent, events, overdueEvents,
 * possibleDuplicates, catalogue, addCameraPhoto). The port exists because those exports were
 * not in the generated bindings when the shell was written; org.gridwalk.shell.ffi.FfiEventDesk
 * (src/ffi) is the one-line-per-call adapter over the real GridStore. Deadlines, overdue and who
 * may take which step are the core's; the shell shows them.
 */

/** The closed-loop states, as the core's EventState. */
enum class EventStatus { REGISTERED, DISPATCHED, HANDLED, VERIFIED, CLOSED }

/** The steps, as the core's Action. */
enum class EventStep { DISPATCH, HANDLE, VERIFY, CLOSE, RETURN, ESCALATE, FEEDBACK }

/** An event in a list (the core's EventSummary). */
data class EventLine(
    val id: String,
    val gridId: String,
    val buildingId: String?,
    val category: String,
    val status: EventStatus,
    val createdMs: Long,
    val responseDueMs: Long,
    val handleDueMs: Long,
    val flagged: Int,
)

/** One step of an event's history (the core's Transition). */
data class EventHistoryItem(val step: EventStep, val by: String, val atMs: Long, val note: String, val statusAfter: EventStatus)

/** An event with its deadlines as of now (the core's EventView). */
data class EventDetail(
    val line: EventLine,
    val description: String,
    val placeText: String,
    val photos: List<String>,
    val department: String?,
    val history: List<EventHistoryItem>,
    /** Working minutes to the handling deadline (negative: overdue by that much). */
    val workingMinutesLeft: Long,
    val overdue: Boolean,
)

/** A category of the catalogue. */
data class EventCategory(val code: String, val name: String, val department: String)

/** A snap report as filled in (the core's EventInput with source `snap`). */
data class SnapDraft(
    val gridId: String,
    val category: String = "",
    val placeText: String = "",
    val buildingId: String? = null,
    val unit: String? = null,
    val lat: Double? = null,
    val lon: Double? = null,
    val description: String = "",
    val photos: List<String> = emptyList(),
)

/** The event exports of GridStore, blocking like every store call. */
interface EventDesk {
    fun catalogue(): List<EventCategory>
    /** Stores a camera JPEG (the core re-encodes and strips metadata); returns its hash. */
    fun addCameraPhoto(jpeg: ByteArray): String
    fun possibleDuplicates(draft: SnapDraft, nowMs: Long): List<EventLine>
    fun reportSnap(draft: SnapDraft): EventLine
    fun events(gridId: String?, status: EventStatus?): List<EventLine>
    fun overdueEvents(gridId: String?, nowMs: Long): List<EventLine>
    fun event(id: String): EventDetail
    fun step(id: String, step: EventStep, note: String, rating: Int?, photos: List<String>): EventDetail
}

/** An event row with how long is left to its deadline. */
data class EventRow(
    val event: EventLine,
    /** The deadline that counts now: respond by while registered, handle by after; null once closed. */
    val deadlineMs: Long?,
    /** Milliseconds to [deadlineMs] (negative: past it); null once closed. */
    val msLeft: Long?,
    /** Past a deadline that is not met yet, as the core says. */
    val overdue: Boolean,
)

/** The event list screen: status and time to deadline. */
class EventListModel(
    private val desk: EventDesk,
    private val gridId: String?,
    private val clock: () -> Long = System::currentTimeMillis,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow<Loadable<List<EventRow>>>(Loadable.Loading)
    val state: StateFlow<Loadable<List<EventRow>>> = _state.asStateFlow()

    /** Loads the events, optionally of one status. */
    suspend fun load(status: EventStatus? = null) {
        _state.value = loading {
            withContext(io) {
                val now = clock()
                val overdue = desk.overdueEvents(gridId, now).map { it.id }.toSet()
                desk.events(gridId, status).map { e ->
                    val deadline = when (e.status) {
                        EventStatus.CLOSED -> null
                        EventStatus.REGISTERED -> e.responseDueMs
                        else -> e.handleDueMs
                    }
                    EventRow(e, deadline, deadline?.let { it - now }, e.id in overdue)
                }
            }
        }
    }
}

/** The event detail screen: history, working time left, and the steps. */
class EventDetailModel(
    private val desk: EventDesk,
    val eventId: String,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow<Loadable<EventDetail>>(Loadable.Loading)
    val state: StateFlow<Loadable<EventDetail>> = _state.asStateFlow()
    private val _error = MutableStateFlow<String?>(null)
    /** Why the last step was refused (the core checks role, state and input). */
    val error: StateFlow<String?> = _error.asStateFlow()

    suspend fun load() {
        _state.value = loading { withContext(io) { desk.event(eventId) } }
    }

    suspend fun step(step: EventStep, note: String, rating: Int? = null, photos: List<String> = emptyList()) {
        try {
            _state.value = Loadable.Ready(withContext(io) { desk.step(eventId, step, note, rating, photos) })
            _error.value = null
        } catch (e: GridException) {
            _error.value = messageOf(e)
        }
    }
}

/** The snap report screen. */
data class SnapState(
    val draft: SnapDraft,
    val categories: List<EventCategory> = emptyList(),
    /** Open events nearby of the same category; shown once before the report is filed. */
    val duplicates: List<EventLine> = emptyList(),
    val fieldErrors: Map<String, String> = emptyMap(),
    val error: String? = null,
    val filed: EventLine? = null,
)

/**
 * A snap report (随手拍): camera photos, a category, a place, a description. Before filing, the
 * core is asked for possible duplicates; the reporter sees them and files anyway or not.
 */
class SnapReportModel(
    private val desk: EventDesk,
    gridId: String,
    private val clock: () -> Long = System::currentTimeMillis,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    private val _state = MutableStateFlow(SnapState(SnapDraft(gridId)))
    val state: StateFlow<SnapState> = _state.asStateFlow()

    suspend fun load() {
        val cats = withContext(io) { desk.catalogue() }
        _state.update { it.copy(categories = cats) }
    }

    fun edit(change: (SnapDraft) -> SnapDraft) = _state.update { it.copy(draft = change(it.draft), duplicates = emptyList()) }

    /** The reporter decided not to file after seeing the possible duplicates. */
    fun dismissDuplicates() = _state.update { it.copy(duplicates = emptyList()) }

    suspend fun addPhoto(jpeg: ByteArray) {
        try {
            val hash = withContext(io) { desk.addCameraPhoto(jpeg) }
            edit { it.copy(photos = it.photos + hash) }
        } catch (e: GridException) {
            _state.update { it.copy(error = messageOf(e)) }
        }
    }

    /**
     * Files the report. The first call with possible duplicates only shows them; calling again
     * with `confirmed` files it anyway.
     */
    suspend fun file(confirmed: Boolean = false): Boolean {
        val draft = _state.value.draft
        return try {
            if (!confirmed) {
                val dups = withContext(io) { desk.possibleDuplicates(draft, clock()) }
                if (dups.isNotEmpty()) {
                    _state.update { it.copy(duplicates = dups) }
                    return false
                }
            }
            val filed = withContext(io) { desk.reportSnap(draft) }
            _state.update { it.copy(filed = filed, duplicates = emptyList(), fieldErrors = emptyMap(), error = null) }
            true
        } catch (e: GridException.InvalidInput) {
            _state.update { s -> s.copy(fieldErrors = e.errors.associate { it.field to it.message }, duplicates = emptyList()) }
            false
        } catch (e: GridException) {
            _state.update { it.copy(error = messageOf(e), duplicates = emptyList()) }
            false
        }
    }
}
