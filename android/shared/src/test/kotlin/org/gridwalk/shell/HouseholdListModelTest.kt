package org.gridwalk.shell

import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.gridwalk_core.AnswerValue
import uniffi.gridwalk_core.VisitInput
import uniffi.gridwalk_core.VisitOutcome

class HouseholdListModelTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `households are grouped by building and unit and due ones are marked`() = runBlocking<Unit> {
        TestStore(dir).use { t ->
            val model = HouseholdListModel(t.repo, t.gridId)
            model.load()
            val buildings = assertIs<Loadable.Ready<List<BuildingGroup>>>(model.state.value).value

            // Every household of the grid appears once, under its own building and unit.
            val all = t.store.gridHouseholds(t.gridId)
            assertEquals(all.map { it.id }.sorted(), buildings.flatMap { b -> b.units.flatMap { u -> u.households.map { it.household.id } } }.sorted())
            for (b in buildings) {
                for (u in b.units) {
                    assertTrue(u.households.all { it.household.buildingId == b.buildingId && it.household.unit == u.unit })
                }
                assertEquals(b.units.map { it.unit }.distinct(), b.units.map { it.unit })
            }
            // Buildings carry their roster names, not ids.
            val names = t.store.places().filter { it.kind == "building" }.associate { it.id to it.name }
            assertEquals(buildings.map { names.getValue(it.buildingId) }, buildings.map { it.name })

            // Nothing visited yet: all due. After a visit, that household alone loses its marker.
            assertTrue(buildings.all { it.dueCount == it.householdCount })
            val visited = all.first()
            t.store.recordVisit(quietVisit(visited.id))
            model.load()
            val after = assertIs<Loadable.Ready<List<BuildingGroup>>>(model.state.value).value
            val rows = after.flatMap { b -> b.units.flatMap { it.households } }.associateBy { it.household.id }
            assertFalse(rows.getValue(visited.id).due)
            assertEquals(all.size - 1, rows.values.count { it.due })
            assertEquals(rows.getValue(visited.id).household.buildingId, model.building(visited.buildingId)?.buildingId)
        }
    }

    @Test
    fun `the grid list shows each grid with its households`() = runBlocking<Unit> {
        TestStore(dir).use { t ->
            val model = GridListModel(t.repo)
            model.load()
            val grids = assertIs<Loadable.Ready<List<GridRow>>>(model.state.value).value
            assertEquals(listOf(t.gridId), grids.map { it.id })
            assertEquals(12, grids.single().households)
        }
    }
}

internal fun quietVisit(householdId: String): VisitInput {
    val now = System.currentTimeMillis()
    return VisitInput(
        householdId = householdId,
        startedMs = now - 10 * 60_000,
        endedMs = now - 60_000,
        outcome = VisitOutcome.MET,
        present = emptyList(),
        location = null,
        formId = "four_questions",
        formVersion = 1u,
        answers = mapOf(
            "household_changes" to AnswerValue.Choices(listOf("none")),
            "has_dispute" to AnswerValue.YesNo(false),
            "has_needs" to AnswerValue.YesNo(false),
        ),
        needs = emptyList(),
        photos = emptyList(),
        notes = "",
    )
}
