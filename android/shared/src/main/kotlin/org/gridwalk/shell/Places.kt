package org.gridwalk.shell

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import uniffi.gridwalk_core.HouseholdSummary
import uniffi.gridwalk_ffi.GridException

/*
 * The place screens: grids → buildings → households. Which households are due for a visit is
 * the core's answer (GridStore.dueForVisit, from the visit policy and care tags); the shell only
 * puts a marker on them.
 */

/** A grid in the grid list. */
data class GridRow(val id: String, val name: String, val households: Int, val visitedThisMonth: Int)

/** The grid list screen. */
class GridListModel(private val repo: GridRepository, private val clock: () -> Long = System::currentTimeMillis) {
    private val _state = MutableStateFlow<Loadable<List<GridRow>>>(Loadable.Loading)
    val state: StateFlow<Loadable<List<GridRow>>> = _state.asStateFlow()

    suspend fun load() {
        _state.value = loading {
            val counts = repo.gridCounts(clock()).associateBy { it.gridId }
            repo.places().filter { it.kind == "grid" }.map { g ->
                val c = counts[g.id]
                GridRow(g.id, g.name, c?.households?.toInt() ?: 0, c?.visitedThisMonth?.toInt() ?: 0)
            }
        }
    }
}

/** A household row with its due-for-visit marker. */
data class HouseholdRow(
    val household: HouseholdSummary,
    /** Due (or overdue) for a visit now. */
    val due: Boolean,
    /** When the next visit is due; null when never visited or not due. */
    val dueMs: Long?,
)

/** The households of one unit (单元) of a building, by door. */
data class UnitGroup(val unit: String, val households: List<HouseholdRow>) {
    val dueCount: Int get() = households.count { it.due }
}

/** A building of the grid with its units. */
data class BuildingGroup(val buildingId: String, val name: String, val units: List<UnitGroup>) {
    val householdCount: Int get() = units.sumOf { it.households.size }
    val dueCount: Int get() = units.sumOf { it.dueCount }
}

/**
 * The households of one grid, grouped by building and unit in roster order: the grid screen
 * lists [buildings], the building screen one [building]'s units.
 */
class HouseholdListModel(
    private val repo: GridRepository,
    val gridId: String,
    private val clock: () -> Long = System::currentTimeMillis,
) {
    private val _state = MutableStateFlow<Loadable<List<BuildingGroup>>>(Loadable.Loading)
    val state: StateFlow<Loadable<List<BuildingGroup>>> = _state.asStateFlow()

    suspend fun load() {
        _state.value = loading {
            val now = clock()
            val due = repo.dueForVisit(gridId, now).associateBy { it.household.id }
            val names = repo.places().filter { it.kind == "building" }.associate { it.id to it.name }
            repo.gridHouseholds(gridId)
                .groupBy { it.buildingId }
                .map { (buildingId, inBuilding) ->
                    val units = inBuilding.groupBy { it.unit }.map { (unit, households) ->
                        UnitGroup(unit, households.map { h -> HouseholdRow(h, due.containsKey(h.id), due[h.id]?.dueMs) })
                    }
                    BuildingGroup(buildingId, names[buildingId] ?: buildingId, units)
                }
        }
    }

    /** One building of the loaded grid. */
    fun building(buildingId: String): BuildingGroup? =
        (state.value as? Loadable.Ready)?.value?.firstOrNull { it.buildingId == buildingId }
}

/** What a screen shows: loading, the data, or a failure with the core's (Chinese) message. */
sealed interface Loadable<out T> {
    data object Loading : Loadable<Nothing>
    data class Ready<T>(val value: T) : Loadable<T>
    data class Failed(val message: String) : Loadable<Nothing>
}

internal suspend fun <T> loading(block: suspend () -> T): Loadable<T> = try {
    Loadable.Ready(block())
} catch (e: GridException) {
    Loadable.Failed(e.message ?: e.toString())
}
