package org.gridwalk

import java.awt.Color
import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.io.File
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files
import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.TimeUnit
import javax.imageio.ImageIO
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.gridwalk_core.Action
import uniffi.gridwalk_core.AnswerValue
import uniffi.gridwalk_core.EventInput
import uniffi.gridwalk_core.EventPlace
import uniffi.gridwalk_core.EventSource
import uniffi.gridwalk_core.EventState
import uniffi.gridwalk_core.Identity
import uniffi.gridwalk_core.Location
import uniffi.gridwalk_core.StepInput
import uniffi.gridwalk_core.SyncPhase
import uniffi.gridwalk_core.SyncProgress
import uniffi.gridwalk_core.UploadStatus
import uniffi.gridwalk_core.VisitInput
import uniffi.gridwalk_core.VisitOutcome
import uniffi.gridwalk_ffi.GridException
import uniffi.gridwalk_ffi.GridStore
import uniffi.gridwalk_ffi.SyncClient
import uniffi.gridwalk_ffi.SyncListener
import uniffi.gridwalk_ffi.demoRoster
import uniffi.gridwalk_ffi.enrol

/**
 * Proves the sync half of the binding against a real `gridwalk-server` on loopback: suspend
 * functions, the progress callback from Rust into Kotlin, enrolment, photos and the typed network
 * errors. The sync protocol and the event rules themselves are tested in Rust.
 */
class SyncDayTest {
    @TempDir
    lateinit var dir: Path

    private val key = ByteArray(32) { (it * 3 + 5).toByte() }

    /** A `gridwalk-server serve` process with its own data directory, on a free loopback port. */
    private inner class Server(private val binary: String) : AutoCloseable {
        private val dataDir: Path = Files.createDirectories(dir.resolve("server"))
        private val log: File = dir.resolve("server.log").toFile()
        private val port = ServerSocket(0).use { it.localPort }
        val baseUrl = "http://127.0.0.1:$port"
        private val process: Process = ProcessBuilder(
            binary, "serve", "--addr", "127.0.0.1:$port", "--data-dir", dataDir.toString(),
        ).redirectErrorStream(true).redirectOutput(log).start()

        init {
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
            while (!listening()) {
                check(process.isAlive) { "gridwalk-server exited:\n${log.readText()}" }
                check(System.nanoTime() < deadline) { "gridwalk-server did not listen:\n${log.readText()}" }
                Thread.sleep(50)
            }
        }

        private fun listening(): Boolean = try {
            Socket().use { it.connect(InetSocketAddress("127.0.0.1", port), 200) }
            true
        } catch (e: java.io.IOException) {
            false
        }

        /** Runs `gridwalk-server <args> --data-dir <this server's>`; returns its standard output. */
        fun command(vararg args: String): String {
            val p = ProcessBuilder(binary, *args, "--data-dir", dataDir.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start()
            val out = p.inputStream.bufferedReader().readText()
            check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { "gridwalk-server ${args.first()} failed" }
            return out.trim()
        }

        /** A one-time enrolment code, as the office prints it. */
        fun code(person: String, role: String, scope: String? = null): String =
            command("enrol", "--person", person, "--role", role, *(scope?.let { arrayOf("--scope", it) } ?: arrayOf()))
                .lines().last().trim()

        override fun close() {
            process.destroy()
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
        }
    }

    /** Starts the server for [body] and always stops it. */
    private fun withServer(body: (Server) -> Unit) {
        val binary = System.getProperty("gridwalk.server").orEmpty()
        assumeTrue(File(binary).canExecute(), "no gridwalk-server at '$binary': cargo build -p gridwalk-server")
        val server = Server(binary)
        try {
            body(server)
        } finally {
            server.close()
        }
    }

    /** Collects the progress reports Rust calls back with (from a library thread). */
    private class Progress : SyncListener {
        val seen: MutableList<SyncProgress> = Collections.synchronizedList(mutableListOf())
        override fun onProgress(progress: SyncProgress) {
            seen.add(progress)
        }
    }

    /** A phone: its store, enrolled at [server] with a fresh code, and its sync client. */
    private inner class Phone(server: Server, name: String, val person: String, role: String, scope: String?) {
        val path: String = dir.resolve("$name.db").toString()
        var store: GridStore = GridStore.open(path, key, person)
        val enrolment = runBlocking { enrol(server.baseUrl, null, server.code(person, role, scope), store) }
        val client = SyncClient(server.baseUrl, enrolment.token, null)
        val progress = Progress()

        fun sync() = runBlocking { client.sync(store, progress) }
    }

    private fun jpeg(width: Int, height: Int): ByteArray {
        val image = BufferedImage(width, height, BufferedImage.TYPE_INT_RGB)
        image.createGraphics().run {
            color = Color(30, 120, 60)
            fillRect(0, 0, width, height)
            color = Color.WHITE
            fillOval(width / 4, height / 4, width / 2, height / 2)
            dispose()
        }
        return ByteArrayOutputStream().also { ImageIO.write(image, "jpg", it) }.toByteArray()
    }

    private fun visit(householdId: String, answers: Map<String, AnswerValue>): VisitInput {
        val now = System.currentTimeMillis()
        return VisitInput(
            householdId = householdId,
            startedMs = now - 15 * 60_000,
            endedMs = now - 5 * 60_000,
            outcome = VisitOutcome.MET,
            present = emptyList(),
            location = Location(lat = 36.0611, lon = 103.8343, accuracyM = 10.0),
            formId = "four_questions",
            formVersion = 1u,
            answers = answers,
            needs = emptyList(),
            photos = emptyList(),
            notes = "",
        )
    }

    private val quietAnswers = mapOf(
        "household_changes" to AnswerValue.Choices(listOf("none")),
        "has_dispute" to AnswerValue.YesNo(false),
        "has_needs" to AnswerValue.YesNo(false),
    )

    private fun step(note: String, assignee: String? = null) =
        StepInput(note = note, assignee = assignee, department = null, rating = null, photos = emptyList())

    @Test
    fun `the office, a building lead and a grid worker close an event through the server`() = withServer { server ->
        // The office phone loads the community and syncs it up: the server holds it from then on.
        val office = Phone(server, "office", "office-zhao", "office", null)
        assertEquals("office", office.enrolment.role)
        assertEquals(Identity(role = "office", scope = emptyList()), office.store.identity())
        assertEquals(office.enrolment.personId, office.store.personId())
        office.store.loadRoster(demoRoster(2u, 12u, 11uL))
        assertTrue(office.sync().everythingUploaded)

        // Morning: the worker's phone takes grid g1.
        val worker = Phone(server, "worker", "worker-wang", "grid_worker", "g1")
        assertEquals(listOf("g1"), worker.store.identity().scope)
        val morning = worker.sync()
        assertTrue(morning.changesDown > 0u && morning.bytesDown > 0uL)
        val households = worker.store.gridHouseholds("g1")
        assertEquals(12, households.size)

        // Visits with the four questions; a bad answer is a typed exception and saves nothing.
        households.take(3).forEach { worker.store.recordVisit(visit(it.id, quietAnswers)) }
        val bad = assertFailsWith<GridException.InvalidInput> {
            worker.store.recordVisit(visit(households[3].id, quietAnswers - "has_needs"))
        }
        assertEquals(listOf("answers.has_needs"), bad.errors.map { it.field })
        assertFalse(worker.store.everythingUploaded())
        // Each record carries its upload status; the day's list names the three households.
        assertEquals(UploadStatus.PENDING, worker.store.uploadStatus(households[0].id))
        assertEquals(UploadStatus.UPLOADED, worker.store.uploadStatus(households[5].id))
        assertEquals(households.take(3).map { it.id }, worker.store.pendingUploads().map { it.id })

        // A building lead files a snap report with a camera photo.
        val building = households.first().buildingId
        val lead = Phone(server, "lead", "lead-li", "building_lead", building)
        lead.sync()
        val photo = lead.store.addCameraPhoto(jpeg(2400, 1800))
        assertEquals(1600u to 1200u, photo.width to photo.height)
        val snap = EventInput(
            gridId = "g1",
            source = EventSource.SNAP,
            category = "environment",
            place = EventPlace(buildingId = building, unit = "1", text = "楼道堆放杂物", lat = null, lon = null),
            description = "一单元楼道堆满纸箱,堵住消防通道",
            photos = listOf(photo.hash),
            householdId = null,
            parties = emptyList(),
        )
        val event = lead.store.reportEvent(snap)
        assertEquals(EventState.REGISTERED, event.state)
        assertEquals(listOf(event.id), lead.store.possibleDuplicates(snap, System.currentTimeMillis()).map { it.id })
        lead.sync()
        assertEquals(UploadStatus.UPLOADED, lead.store.uploadStatus(event.id))
        assertEquals(UploadStatus.PENDING, lead.store.uploadStatus(photo.hash))
        val photos = runBlocking { lead.client.uploadPhotos(lead.store) }
        assertEquals(2u, photos.uploaded) // the photo and its thumbnail
        assertTrue(lead.store.everythingUploaded())
        assertEquals(UploadStatus.UPLOADED, lead.store.uploadStatus(photo.hash))
        assertTrue(lead.store.pendingUploads().isEmpty())

        // The office sees the report, fetches its photo and dispatches it to the worker.
        office.sync()
        assertEquals(listOf(event.id), office.store.events("g1", EventState.REGISTERED).map { it.id })
        assertEquals(1u, runBlocking { office.client.downloadPhotos(office.store) }.downloaded)
        assertContentEquals(lead.store.photo(photo.hash), office.store.photo(photo.hash))
        val dispatched = office.store.stepEvent(event.id, Action.DISPATCH, step("请清理楼道", worker.person))
        assertEquals(EventState.DISPATCHED, dispatched.state)
        office.sync()

        // Evening: the worker syncs, sees it dispatched to them, handles it and syncs again.
        worker.sync()
        val view = worker.store.event(event.id)
        assertEquals(EventState.DISPATCHED, view.event.state)
        assertEquals(worker.person, view.event.assignee)
        assertTrue(view.handleDueMs > view.event.createdMs)
        assertEquals(EventState.HANDLED, worker.store.stepEvent(event.id, Action.HANDLE, step("已清理")).state)
        val evening = worker.sync()
        assertTrue(evening.everythingUploaded)
        assertTrue(worker.store.everythingUploaded())
        assertEquals(UploadStatus.UPLOADED, worker.store.uploadStatus(households[0].id))
        office.sync()
        assertEquals(EventState.HANDLED, office.store.event(event.id).event.state)

        // Progress arrived through the Kotlin callback, ending each sync with DONE.
        assertTrue(worker.progress.seen.any { it.phase == SyncPhase.EXCHANGING })
        assertEquals(SyncPhase.DONE, worker.progress.seen.last().phase)
        assertEquals(3, worker.progress.seen.count { it.phase == SyncPhase.DONE })

        // The phone restarts: the store reopens with its work and its identity.
        worker.store.closeStore()
        worker.store.close()
        GridStore.open(worker.path, key, worker.person).use { again ->
            assertEquals(EventState.HANDLED, again.event(event.id).event.state)
            assertEquals(3, again.gridHouseholds("g1").sumOf { it.visitCount.toInt() })
            assertEquals(Identity(role = "grid_worker", scope = listOf("g1")), again.identity())
            assertTrue(again.everythingUploaded())
        }
        listOf(office, lead).forEach { it.store.close() }
    }

    @Test
    fun `network failures, bad codes and revocation arrive as typed exceptions`() = withServer { server ->
        val store = GridStore.open(dir.resolve("phone.db").toString(), key, "worker-liu")
        store.use {
            assertFailsWith<GridException.Forbidden> {
                runBlocking { enrol(server.baseUrl, null, "ABCDE-FGHJK", store) }
            }
            val closedPort = ServerSocket(0).use { it.localPort }
            assertFailsWith<GridException.Network> {
                runBlocking { enrol("http://127.0.0.1:$closedPort", null, "ABCDE-FGHJK", store) }
            }

            val enrolment = runBlocking { enrol(server.baseUrl, null, server.code("worker-liu", "grid_worker", "g1"), store) }
            val client = SyncClient(server.baseUrl, enrolment.token, null)
            runBlocking { client.sync(store, Progress()) }

            // The office revokes the phone: the next sync says so, and the app wipes the store.
            server.command("revoke", "--device", store.deviceId())
            assertFailsWith<GridException.Revoked> { runBlocking { client.sync(store, Progress()) } }
            store.wipe()
            assertFalse(File(dir.resolve("phone.db").toString()).exists())
            assertFailsWith<GridException.Closed> { store.identity() }
        }
    }
}
