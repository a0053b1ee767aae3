package org.gridwalk.android

import android.content.Context
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.sync.withLock

/**
 * Syncs in the background when the phone is on an unmetered network (the office Wi-Fi in the
 * evening) and the battery is not low; a worker out in the buildings never pays for mobile data.
 * The sync screen can still sync on any network by hand.
 */
object BackgroundSync {
    private const val NAME = "gridwalk-sync"

    fun schedule(context: Context) {
        val constraints = Constraints.Builder()
            .setRequiredNetworkType(NetworkType.UNMETERED)
            .setRequiresBatteryNotLow(true)
            .build()
        val request = PeriodicWorkRequestBuilder<SyncWorker>(1, TimeUnit.HOURS)
            .setConstraints(constraints)
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 10, TimeUnit.MINUTES)
            .build()
        WorkManager.getInstance(context).enqueueUniquePeriodicWork(NAME, ExistingPeriodicWorkPolicy.KEEP, request)
    }

    fun cancel(context: Context) {
        WorkManager.getInstance(context).cancelUniqueWork(NAME)
    }
}

class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val shell = applicationContext.shell
        if (!shell.enrolled) return Result.success()
        val end = shell.syncLock.withLock { shell.syncModel().run() }
        return when {
            // Already wiped by the model; nothing left to retry.
            end.revoked -> Result.success()
            end.offline || end.error != null -> Result.retry()
            else -> Result.success()
        }
    }
}
