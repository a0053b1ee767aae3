package org.gridwalk.shell

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import uniffi.gridwalk_core.DueHousehold
import uniffi.gridwalk_core.GridCounts
import uniffi.gridwalk_core.Household
import uniffi.gridwalk_core.HouseholdSummary
import uniffi.gridwalk_core.Place
import uniffi.gridwalk_core.Visit
import uniffi.gridwalk_core.VisitInput
import uniffi.gridwalk_ffi.GridStoreInterface

/**
 * The store as the view models see it: every GridStore call is blocking (it returns once the
 * change is on disk), so each one runs on [io], never on the UI thread — opening the store
 * included, which is why the store comes from [open]. One line per call; the rules live in the
 * Rust core.
 */
class GridRepository(
    private val open: () -> GridStoreInterface,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) {
    constructor(store: GridStoreInterface, io: CoroutineDispatcher = Dispatchers.IO) : this({ store }, io)

    suspend fun places(): List<Place> = io { it.places() }
    suspend fun gridCounts(nowMs: Long): List<GridCounts> = io { it.gridCounts(nowMs) }
    suspend fun gridHouseholds(gridId: String): List<HouseholdSummary> = io { it.gridHouseholds(gridId) }
    suspend fun dueForVisit(gridId: String?, nowMs: Long): List<DueHousehold> = io { it.dueForVisit(gridId, nowMs) }
    suspend fun household(id: String): Household = io { it.household(id) }
    suspend fun visitHistory(householdId: String): List<Visit> = io { it.visitHistory(householdId) }
    suspend fun reveal(residentId: String, field: String, purpose: String): String =
        io { it.reveal(residentId, field, purpose) }
    suspend fun currentFormJson(formId: String): String = io { it.currentFormJson(formId) }
    suspend fun addPhoto(jpeg: ByteArray): String = io { it.addPhoto(jpeg) }
    suspend fun recordVisit(visit: VisitInput): Visit = io { it.recordVisit(visit) }

    private suspend fun <T> io(call: (GridStoreInterface) -> T): T = withContext(io) { call(open()) }
}
