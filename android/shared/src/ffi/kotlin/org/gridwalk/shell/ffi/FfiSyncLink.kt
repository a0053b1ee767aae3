package org.gridwalk.shell.ffi

import org.gridwalk.shell.Credential
import org.gridwalk.shell.Enroller
import org.gridwalk.shell.OfflineException
import org.gridwalk.shell.PhotoSummary
import org.gridwalk.shell.RevokedException
import org.gridwalk.shell.SyncLink
import org.gridwalk.shell.SyncStage
import org.gridwalk.shell.SyncStep
import org.gridwalk.shell.SyncSummary
// Wildcards: the records may be generated in either module (core types or FFI types).
import uniffi.gridwalk_core.*
import uniffi.gridwalk_ffi.*

/**
 * [SyncLink] over SyncClient: the store syncs through the client; Revoked and Network become
 * the shell's two exceptions. Compiled only once the bindings contain the exports.
 */
class FfiSyncLink(private val openStore: () -> GridStore, private val openClient: () -> SyncClient) : SyncLink {
    constructor(store: GridStore, client: SyncClient) : this({ store }, { client })

    // Made on first use, on the caller's (background) thread; one client per link so that
    // cancel() reaches the sync in progress.
    private val store: GridStore get() = openStore()
    private val client: SyncClient by lazy(openClient)

    override suspend fun sync(onProgress: (SyncStep) -> Unit): SyncSummary = mapped {
        val store = store
        val listener = object : SyncListener {
            override fun onProgress(progress: SyncProgress) = onProgress(
                SyncStep(
                    SyncStage.valueOf(progress.phase.name), progress.round.toInt(),
                    progress.documentsUp.toInt(), progress.documentsDown.toInt(),
                    progress.bytesUp.toLong(), progress.bytesDown.toLong(),
                ),
            )
        }
        val r = client.sync(store, listener)
        SyncSummary(
            r.roundTrips.toInt(), r.changesUp.toInt(), r.changesDown.toInt(),
            r.bytesUp.toLong(), r.bytesDown.toLong(), r.everythingUploaded,
        )
    }

    override suspend fun uploadPhotos(): PhotoSummary = mapped { photos(client.uploadPhotos(store)) }

    override suspend fun downloadPhotos(): PhotoSummary = mapped { photos(client.downloadPhotos(store)) }

    override fun cancel() = client.cancel()

    override fun everythingUploaded(): Boolean = store.everythingUploaded()

    private fun photos(r: PhotoReport) = PhotoSummary(r.uploaded.toInt(), r.downloaded.toInt(), r.bytesUp.toLong())
}

/** [Enroller] over the `enrol` export for the given store (its device and actor ids). */
class FfiEnroller(private val store: GridStore, private val caPem: ByteArray?) : Enroller {
    override suspend fun enrol(baseUrl: String, code: String): Credential = mapped {
        val e = uniffi.gridwalk_ffi.enrol(baseUrl, caPem, code, store)
        Credential(e.token, e.personId, e.role, e.scope)
    }
}

private inline fun <T> mapped(block: () -> T): T = try {
    block()
} catch (e: GridException.Revoked) {
    throw RevokedException()
} catch (e: GridException.Network) {
    throw OfflineException(e.message ?: "network")
}
