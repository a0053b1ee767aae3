package org.gridwalk.shell.ffi

import org.gridwalk.shell.EventCategory
import org.gridwalk.shell.EventDesk
import org.gridwalk.shell.EventDetail
import org.gridwalk.shell.EventHistoryItem
import org.gridwalk.shell.EventLine
import org.gridwalk.shell.EventStatus
import org.gridwalk.shell.EventStep
import org.gridwalk.shell.SnapDraft
// Wildcards: the records may be generated in either module (core types or FFI types).
import uniffi.gridwalk_core.*
import uniffi.gridwalk_ffi.*

/**
 * [EventDesk] over GridStore's event exports: one call each, records mapped field by field.
 * Compiled only once the bindings contain the exports (see android/shared/pom.xml).
 */
class FfiEventDesk(private val open: () -> GridStore) : EventDesk {
    constructor(store: GridStore) : this({ store })

    // Opened on first use, on the caller's (background) thread.
    private val store: GridStore get() = open()

    override fun catalogue(): List<EventCategory> =
        store.catalogue().map { EventCategory(it.code, it.name, it.department) }

    override fun addCameraPhoto(jpeg: ByteArray): String = store.addCameraPhoto(jpeg).hash

    override fun possibleDuplicates(draft: SnapDraft, nowMs: Long): List<EventLine> =
        store.possibleDuplicates(input(draft), nowMs).map(::line)

    override fun reportSnap(draft: SnapDraft): EventLine = line(store.event(store.reportEvent(input(draft)).id))

    override fun events(gridId: String?, status: EventStatus?): List<EventLine> =
        store.events(gridId, status?.let { EventState.valueOf(it.name) }).map(::line)

    override fun overdueEvents(gridId: String?, nowMs: Long): List<EventLine> =
        store.overdueEvents(gridId, nowMs).map(::line)

    override fun event(id: String): EventDetail = detail(store.event(id))

    override fun step(id: String, step: EventStep, note: String, rating: Int?, photos: List<String>): EventDetail {
        store.stepEvent(id, Action.valueOf(step.name), StepInput(note, null, null, rating?.toUByte(), photos))
        return detail(store.event(id))
    }

    private fun input(d: SnapDraft) = EventInput(
        gridId = d.gridId,
        source = EventSource.SNAP,
        category = d.category,
        place = EventPlace(d.buildingId, d.unit, d.placeText, d.lat, d.lon),
        description = d.description,
        photos = d.photos,
        householdId = null,
        parties = emptyList(),
    )

    private fun line(s: EventSummary) = EventLine(
        s.id, s.gridId, s.buildingId, s.category, EventStatus.valueOf(s.state.name),
        s.createdMs, s.responseDueMs, s.handleDueMs, s.flagged.toInt(),
    )

    private fun line(v: EventView) = EventLine(
        v.event.id, v.event.gridId, v.event.place.buildingId, v.event.category, EventStatus.valueOf(v.event.state.name),
        v.event.createdMs, v.responseDueMs, v.handleDueMs, v.event.flagged.toInt(),
    )

    private fun detail(v: EventView) = EventDetail(
        line = line(v),
        description = v.event.description,
        placeText = v.event.place.text,
        photos = v.event.photos,
        department = v.event.department,
        history = v.event.transitions.map {
            EventHistoryItem(EventStep.valueOf(it.action.name), it.by, it.atMs, it.note, EventStatus.valueOf(it.stateAfter.name))
        },
        workingMinutesLeft = v.workingMinutesLeft,
        overdue = v.overdue,
    )
}
