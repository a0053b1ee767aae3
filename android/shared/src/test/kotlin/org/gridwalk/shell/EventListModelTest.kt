package org.gridwalk.shell

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import uniffi.gridwalk_core.FieldError
import uniffi.gridwalk_ffi.GridException

/**
 * The event exports were not generated when this was written, so the models are tested over a
 * fake [EventDesk]; the adapter over the real GridStore is src/ffi/…/FfiEventDesk.kt.
 */
class EventListModelTest {
    private val hour = 3_600_000L
    private val now = 1_750_000_000_000L

    private fun line(id: String, status: EventStatus, responseDue: Long, handleDue: Long) =
        EventLine(id, "grid-1", "b-1", "facility", status, now - 5 * hour, responseDue, handleDue, 0)

    private class FakeDesk(val lines: List<EventLine>, val overdue: Set<String>) : EventDesk {
        val reported = mutableListOf<SnapDraft>()
        var duplicates: List<EventLine> = emptyList()
        override fun catalogue() = listOf(EventCategory("facility", "设施损坏", "物业"))
        override fun addCameraPhoto(jpeg: ByteArray) = "h".repeat(64)
        override fun possibleDuplicates(draft: SnapDraft, nowMs: Long) = duplicates
        override fun reportSnap(draft: SnapDraft): EventLine {
            if (draft.description.isBlank()) {
                throw GridException.InvalidInput(listOf(FieldError("description", "required", "此项为必填")))
            }
            reported += draft
            return lines.first()
        }
        override fun events(gridId: String?, status: EventStatus?) = lines.filter { status == null || it.status == status }
        override fun overdueEvents(gridId: String?, nowMs: Long) = lines.filter { it.id in overdue }
        override fun event(id: String) = throw GridException.NotFound("event")
        override fun step(id: String, step: EventStep, note: String, rating: Int?, photos: List<String>) =
            throw GridException.Forbidden("role")
    }

    @Test
    fun `each event shows its status and the time left to the deadline that counts`() = runBlocking<Unit> {
        val desk = FakeDesk(
            listOf(
                line("new", EventStatus.REGISTERED, now + 2 * hour, now + 48 * hour),
                line("late", EventStatus.DISPATCHED, now - hour, now - 3 * hour),
                line("done", EventStatus.CLOSED, now - 10 * hour, now - 8 * hour),
            ),
            overdue = setOf("late"),
        )
        val model = EventListModel(desk, "grid-1", clock = { now }, io = Dispatchers.Unconfined)
        model.load()
        val rows = assertIs<Loadable.Ready<List<EventRow>>>(model.state.value).value.associateBy { it.event.id }

        assertEquals(2 * hour, rows.getValue("new").msLeft)
        assertFalse(rows.getValue("new").overdue)
        assertEquals(-3 * hour, rows.getValue("late").msLeft)
        assertTrue(rows.getValue("late").overdue)
        assertNull(rows.getValue("done").msLeft)
        assertEquals(EventStatus.CLOSED, rows.getValue("done").event.status)

        model.load(EventStatus.REGISTERED)
        assertEquals(listOf("new"), assertIs<Loadable.Ready<List<EventRow>>>(model.state.value).value.map { it.event.id })
    }

    @Test
    fun `a snap report shows possible duplicates once and maps field errors`() = runBlocking<Unit> {
        val desk = FakeDesk(listOf(line("e1", EventStatus.REGISTERED, now + hour, now + 24 * hour)), emptySet())
        val model = SnapReportModel(desk, "grid-1", clock = { now }, io = Dispatchers.Unconfined)
        model.load()
        assertEquals("设施损坏", model.state.value.categories.single().name)
        model.addPhoto(ByteArray(10))
        model.edit { it.copy(category = "facility", placeText = "4号楼2单元楼道") }

        assertFalse(model.file())
        assertEquals(mapOf("description" to "此项为必填"), model.state.value.fieldErrors)

        model.edit { it.copy(description = "楼道灯坏了") }
        desk.duplicates = desk.lines
        assertFalse(model.file())
        assertEquals(listOf("e1"), model.state.value.duplicates.map { it.id })
        assertTrue(model.file(confirmed = true))
        assertEquals(listOf("h".repeat(64)), desk.reported.single().photos)
    }
}
