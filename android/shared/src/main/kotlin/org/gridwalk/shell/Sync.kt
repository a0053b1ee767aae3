package org.gridwalk.shell

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update

/*
 * Sync with the office. The model talks to [SyncLink], a port over SyncClient (sync, upload and
 * download of photos, cancel) and GridStore.everythingUploaded. The port exists because those
 * exports were not in the generated bindings when the shell was written;
 * org.gridwalk.shell.ffi.FfiSyncLink (src/ffi) is the adapter over the real SyncClient, and tests
 * use a fake. What to send, how to merge and when everything is uploaded are the core's.
 */

/** The phases of one sync (the core's SyncPhase). */
enum class SyncStage { PREPARING, EXCHANGING, APPLYING, DONE }

/** Progress as the core reports it (the core's SyncProgress). */
data class SyncStep(
    val stage: SyncStage,
    val round: Int,
    val documentsUp: Int,
    val documentsDown: Int,
    val bytesUp: Long,
    val bytesDown: Long,
)

/** The result of one sync (the core's SyncReport). */
data class SyncSummary(
    val roundTrips: Int,
    val changesUp: Int,
    val changesDown: Int,
    val bytesUp: Long,
    val bytesDown: Long,
    val everythingUploaded: Boolean,
)

/** Photos moved (the core's PhotoReport). */
data class PhotoSummary(val uploaded: Int, val downloaded: Int, val bytesUp: Long)

/** The office revoked this device's credential (GridException.Revoked). */
class RevokedException : Exception("revoked")

/** The network failed; the sync can be retried later (GridException.Network). */
class OfflineException(reason: String) : Exception(reason)

/** The sync exports; an adapter maps GridException.Revoked/Network to the two exceptions above. */
interface SyncLink {
    suspend fun sync(onProgress: (SyncStep) -> Unit): SyncSummary
    suspend fun uploadPhotos(): PhotoSummary
    suspend fun downloadPhotos(): PhotoSummary
    /** Stops a sync in progress; what was applied stays applied. */
    fun cancel()
    /** Whether every local change and photo has reached the office (blocking store read). */
    fun everythingUploaded(): Boolean
}

/** What the device does when the office revokes it: wipe the store and destroy the key and token. */
fun interface DeviceReset {
    fun wipe()
}

/** The sync screen. */
data class SyncState(
    val running: Boolean = false,
    val step: SyncStep? = null,
    val last: SyncSummary? = null,
    val photos: PhotoSummary? = null,
    /** Every local change and photo has reached the office. */
    val everythingUploaded: Boolean = false,
    /** The last sync failed for want of a network; retry later. */
    val offline: Boolean = false,
    /** The device was revoked and wiped; the app must enrol again. */
    val revoked: Boolean = false,
    val error: String? = null,
)

/**
 * Runs a sync (documents, then photos up and down) and reports its phases. Used by the sync
 * screen and by the background worker, which needs only [run]'s result.
 */
class SyncModel(
    private val link: SyncLink,
    private val io: CoroutineDispatcher = Dispatchers.IO,
    private val reset: DeviceReset,
) {
    private val _state = MutableStateFlow(SyncState())
    val state: StateFlow<SyncState> = _state.asStateFlow()

    /** Reads whether everything is uploaded (for the screen before any sync; blocking). */
    fun refresh() = _state.update { it.copy(everythingUploaded = link.everythingUploaded()) }

    /** Syncs once; returns the new state. A revoked device is wiped before this returns. */
    suspend fun run(): SyncState {
        _state.update { it.copy(running = true, step = null, offline = false, error = null) }
        try {
            val summary = link.sync { step -> _state.update { it.copy(step = step) } }
            val up = link.uploadPhotos()
            val down = link.downloadPhotos()
            _state.update {
                it.copy(
                    running = false,
                    last = summary,
                    photos = PhotoSummary(up.uploaded, down.downloaded, up.bytesUp),
                    everythingUploaded = summary.everythingUploaded,
                )
            }
            // The store's own answer (photos included), a blocking read.
            val all = summary.everythingUploaded && withContext(io) { link.everythingUploaded() }
            _state.update { it.copy(everythingUploaded = all) }
        } catch (e: RevokedException) {
            withContext(io) { reset.wipe() }
            _state.update { SyncState(revoked = true) }
        } catch (e: OfflineException) {
            _state.update { it.copy(running = false, offline = true, error = e.message) }
        } catch (e: CancellationException) {
            _state.update { it.copy(running = false) }
            throw e
        } catch (e: Exception) {
            _state.update { it.copy(running = false, error = e.message ?: e.toString()) }
        }
        return _state.value
    }

    fun cancel() = link.cancel()
}
