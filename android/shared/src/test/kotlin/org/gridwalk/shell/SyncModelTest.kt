package org.gridwalk.shell

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/**
 * SyncClient was not generated when this was written, so the model is tested over a fake
 * [SyncLink]; the adapter over the real client is src/ffi/…/FfiSyncLink.kt.
 */
class SyncModelTest {
    private class FakeLink(var failWith: Exception? = null) : SyncLink {
        var pending = 3
        var onEachStep: (SyncStep) -> Unit = {}
        var cancelled = false

        override suspend fun sync(onProgress: (SyncStep) -> Unit): SyncSummary {
            failWith?.let { throw it }
            SyncStage.entries.forEachIndexed { i, stage ->
                val step = SyncStep(stage, 1, if (i > 0) pending else 0, 2, 1000L * i, 500L * i)
                onProgress(step)
                onEachStep(step)
            }
            pending = 0
            return SyncSummary(1, 3, 2, 3000, 1500, everythingUploaded = true)
        }

        override suspend fun uploadPhotos() = PhotoSummary(uploaded = 2, downloaded = 0, bytesUp = 90_000)
        override suspend fun downloadPhotos() = PhotoSummary(uploaded = 0, downloaded = 1, bytesUp = 0)
        override fun cancel() { cancelled = true }
        override fun everythingUploaded() = pending == 0
    }

    @Test
    fun `a sync reports each phase and then that everything is uploaded`() = runBlocking<Unit> {
        val link = FakeLink()
        val model = SyncModel(link) { error("not revoked") }
        model.refresh()
        assertFalse(model.state.value.everythingUploaded)

        val seen = mutableListOf<Pair<SyncStage, Boolean>>()
        link.onEachStep = { seen += model.state.value.step!!.stage to model.state.value.running }
        val end = model.run()

        assertEquals(SyncStage.entries.map { it to true }, seen)
        assertFalse(end.running)
        assertTrue(end.everythingUploaded)
        assertEquals(SyncSummary(1, 3, 2, 3000, 1500, true), end.last)
        assertEquals(PhotoSummary(uploaded = 2, downloaded = 1, bytesUp = 90_000), end.photos)
        model.cancel()
        assertTrue(link.cancelled)
    }

    @Test
    fun `a revoked device is wiped and a network failure is only marked offline`() = runBlocking<Unit> {
        var wiped = 0
        val revoked = SyncModel(FakeLink(RevokedException())) { wiped++ }.run()
        assertEquals(1, wiped)
        assertTrue(revoked.revoked)
        assertFalse(revoked.everythingUploaded)

        val link = FakeLink(OfflineException("connection reset"))
        val model = SyncModel(link) { wiped++ }
        val offline = model.run()
        assertTrue(offline.offline)
        assertFalse(offline.running)
        assertEquals(1, wiped)
        link.failWith = null
        assertTrue(model.run().everythingUploaded)
        assertFalse(model.state.value.offline)
    }
}
