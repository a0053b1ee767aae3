package org.gridwalk.android

import android.app.Application
import android.content.Context
import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.withContext
import org.gridwalk.shell.Credential
import org.gridwalk.shell.DeviceReset
import org.gridwalk.shell.EnrolModel
import org.gridwalk.shell.EventDesk
import org.gridwalk.shell.GridRepository
import org.gridwalk.shell.SyncLink
import org.gridwalk.shell.SyncModel
import org.gridwalk.shell.ffi.FfiEnroller
import org.gridwalk.shell.ffi.FfiEventDesk
import org.gridwalk.shell.ffi.FfiSyncLink
import uniffi.gridwalk_core.Identity
import uniffi.gridwalk_ffi.GridStore
import uniffi.gridwalk_ffi.SyncClient

class GridwalkApp : Application() {
    lateinit var shell: Shell
        private set

    override fun onCreate() {
        super.onCreate()
        shell = Shell(this)
        if (shell.enrolled) BackgroundSync.schedule(this)
    }
}

val Context.shell: Shell get() = (applicationContext as GridwalkApp).shell

/**
 * The platform glue in one place: where the store file lives, where its key and the credential
 * come from (the Keystore [Vault]), which office to talk to, and what a revocation destroys.
 */
class Shell(private val context: Context) : DeviceReset {
    private val vault = Vault(context)
    private val settings = context.getSharedPreferences("settings", Context.MODE_PRIVATE)
    private var opened: GridStore? = null

    /** One sync at a time, whether started on the sync screen or by WorkManager. */
    val syncLock = Mutex()

    val enrolled: Boolean get() = vault.credential != null

    /** The office's address, kept (not secret) from enrolment. */
    private val baseUrl: String get() = settings.getString(BASE_URL, null) ?: error("not enrolled")

    /**
     * The office CA in PEM when the office uses its own certificate authority; null trusts the
     * system roots. A deployment pins its CA here (e.g. from res/raw).
     */
    private val caPem: ByteArray? = null

    private val dbFile: File get() = File(context.filesDir, "grid.db")

    /** The open store of the enrolled person (blocking: call from a background thread). */
    @Synchronized
    fun store(): GridStore = opened ?: run {
        val personId = vault.credential?.personId ?: error("not enrolled")
        GridStore.open(dbFile.path, vault.storeKey(), personId).also { opened = it }
    }

    // The store opens on first use, on the IO thread of the first call; after a wipe the old
    // handle is never reached again because every call goes through store().
    val repository: GridRepository get() = GridRepository(::store)
    val events: EventDesk get() = FfiEventDesk(::store)

    fun syncLink(): SyncLink = FfiSyncLink(::store) {
        val credential = vault.credential ?: error("not enrolled")
        SyncClient(baseUrl, credential.token, caPem)
    }

    fun syncModel() = SyncModel(syncLink(), reset = this)

    /**
     * Enrolment: the store is created first (enrolment registers its device and actor ids), the
     * credential goes into the Keystore, then the store is reopened as the enrolled person with
     * the role and scope the office gave.
     */
    fun enrolModel(): EnrolModel {
        var enrolledAt = ""
        return EnrolModel(
            enroller = { url, code ->
                enrolledAt = url
                val provisional = withContext(Dispatchers.IO) { GridStore.open(dbFile.path, vault.storeKey(), PROVISIONAL) }
                try {
                    FfiEnroller(provisional, caPem).enrol(url, code)
                } finally {
                    withContext(Dispatchers.IO) { provisional.closeStore(); provisional.close() }
                }
            },
            keep = { credential: Credential ->
                withContext(Dispatchers.IO) {
                    settings.edit().putString(BASE_URL, enrolledAt).commit()
                    vault.credential = credential
                    store().setIdentity(Identity(credential.role, credential.scope))
                }
                BackgroundSync.schedule(context)
            },
        )
    }

    /** Revoked by the office: wipe the store, destroy the key and credential, stop syncing. */
    @Synchronized
    override fun wipe() {
        opened?.let { store ->
            runCatching { store.wipe() }
            store.close()
        }
        opened = null
        context.filesDir.listFiles { f -> f.name.startsWith(dbFile.name) }?.forEach { it.delete() }
        File(context.cacheDir, "camera").deleteRecursively()
        vault.destroy()
        settings.edit().clear().commit()
        BackgroundSync.cancel(context)
    }

    private companion object {
        const val BASE_URL = "base_url"
        const val PROVISIONAL = "unenrolled-device"
    }
}
