package org.gridwalk.shell.ffi

import java.awt.Color
import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.nio.file.Path
import javax.imageio.ImageIO
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.gridwalk.shell.EventDetail
import org.gridwalk.shell.EventListModel
import org.gridwalk.shell.EventRow
import org.gridwalk.shell.EventStatus
import org.gridwalk.shell.EventDetailModel
import org.gridwalk.shell.EventStep
import org.gridwalk.shell.Loadable
import org.gridwalk.shell.SnapReportModel
import org.gridwalk.shell.SyncModel
import org.gridwalk.shell.TestStore
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.gridwalk_core.Identity
import uniffi.gridwalk_ffi.SyncClient

/** The event and sync adapters over the real library: the shell's models on the real exports. */
class FfiAdaptersTest {
    @TempDir
    lateinit var dir: Path

    private fun jpeg(): ByteArray {
        val image = BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB)
        image.createGraphics().run { color = Color(40, 120, 200); fillRect(0, 0, 64, 48); dispose() }
        return ByteArrayOutputStream().also { ImageIO.write(image, "jpg", it) }.toByteArray()
    }

    @Test
    fun `a snap report filed through the real store shows in the list with time to its deadline`() = runBlocking<Unit> {
        TestStore(dir).use { t ->
            t.store.setIdentity(Identity("grid_worker", listOf(t.gridId)))
            val desk = FfiEventDesk(t.store)
            val building = t.store.gridHouseholds(t.gridId).first().buildingId

            val snap = SnapReportModel(desk, t.gridId)
            snap.load()
            assertTrue(snap.state.value.categories.any { it.code == "facility" })
            snap.addPhoto(jpeg())
            assertEquals(1, snap.state.value.draft.photos.size)
            snap.edit { it.copy(category = "facility", buildingId = building, placeText = "4号楼2单元楼道", description = "楼道灯坏了") }
            assertTrue(snap.file())
            val filed = assertNotNull(snap.state.value.filed)

            // The same problem in the same building again: the core finds the first one.
            val again = SnapReportModel(desk, t.gridId)
            again.edit { it.copy(category = "facility", buildingId = building, placeText = "4号楼", description = "灯还是不亮") }
            assertFalse(again.file())
            assertEquals(listOf(filed.id), again.state.value.duplicates.map { it.id })

            val list = EventListModel(desk, t.gridId)
            list.load()
            val row = assertIs<Loadable.Ready<List<EventRow>>>(list.state.value).value.single()
            assertEquals(EventStatus.REGISTERED, row.event.status)
            assertTrue(row.msLeft!! > 0)
            assertFalse(row.overdue)

            // A grid worker may not dispatch: the core refuses and the model shows why.
            val detail = EventDetailModel(desk, filed.id)
            detail.load()
            assertIs<Loadable.Ready<EventDetail>>(detail.state.value)
            detail.step(EventStep.DISPATCH, "派物业")
            assertNotNull(detail.error.value)
        }
    }

    @Test
    fun `a sync with no office reachable is offline, not an error, and wipes nothing`() = runBlocking<Unit> {
        TestStore(dir).use { t ->
            var wiped = false
            // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
            val link = FfiSyncLink(t.store, SyncClient("http://127.0.0.1:9", "token", null))
            val end = SyncModel(link) { wiped = true }.run()
            assertTrue(end.offline, end.toString())
            assertFalse(wiped)
            assertFalse(link.everythingUploaded())
        }
    }
}
