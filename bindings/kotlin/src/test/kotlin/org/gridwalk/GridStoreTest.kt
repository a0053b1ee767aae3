package org.gridwalk

import java.awt.Color
import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.nio.file.Path
import java.util.concurrent.Callable
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import javax.imageio.ImageIO
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.gridwalk_core.AnswerValue
import uniffi.gridwalk_core.Gender
import uniffi.gridwalk_core.HouseholdSummary
import uniffi.gridwalk_core.Location
import uniffi.gridwalk_core.NeedInput
import uniffi.gridwalk_core.ResidentInput
import uniffi.gridwalk_core.Urgency
import uniffi.gridwalk_core.VisitInput
import uniffi.gridwalk_core.VisitOutcome
import uniffi.gridwalk_ffi.GridException
import uniffi.gridwalk_ffi.GridStore
import uniffi.gridwalk_ffi.demoRoster
import uniffi.gridwalk_ffi.visibleFields

/**
 * Proves the Kotlin binding against the real library: records, enums, maps, bytes, typed errors,
 * object lifetime and threads all cross the FFI. The rules themselves are tested in Rust.
 */
class GridStoreTest {
    @TempDir
    lateinit var dir: Path

    private val key = ByteArray(32) { (it * 7 + 1).toByte() }
    private val worker = "worker-zhang"

    private fun open(): GridStore = GridStore.open(dir.resolve("grid.db").toString(), key, worker)

    /** Opens a store with the demo community (1 grid, 12 households) loaded; returns its households. */
    private fun openWithRoster(): Pair<GridStore, List<HouseholdSummary>> {
        val store = open()
        val report = store.loadRoster(demoRoster(1u, 12u, 7uL))
        assertEquals(12u, report.created)
        val grid = store.places().first { it.kind == "grid" }
        return store to store.gridHouseholds(grid.id)
    }

    private fun visit(
        householdId: String,
        answers: Map<String, AnswerValue>,
        formId: String = "four_questions",
        photos: List<String> = emptyList(),
        needs: List<NeedInput> = emptyList(),
        present: List<String> = emptyList(),
    ): VisitInput {
        val now = System.currentTimeMillis()
        return VisitInput(
            householdId = householdId,
            startedMs = now - 20 * 60_000,
            endedMs = now - 5 * 60_000,
            outcome = VisitOutcome.MET,
            present = present,
            location = Location(lat = 36.0611, lon = 103.8343, accuracyM = 12.0),
            formId = formId,
            formVersion = 1u,
            answers = answers,
            needs = needs,
            photos = photos,
            notes = "",
        )
    }

    private fun quietAnswers(): Map<String, AnswerValue> = mapOf(
        "household_changes" to AnswerValue.Choices(listOf("none")),
        "has_dispute" to AnswerValue.YesNo(false),
        "has_needs" to AnswerValue.YesNo(false),
    )

    private fun jpeg(): ByteArray {
        val image = BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB)
        image.createGraphics().run {
            color = Color(200, 40, 40)
            fillRect(0, 0, 64, 48)
            dispose()
        }
        return ByteArrayOutputStream().also { ImageIO.write(image, "jpg", it) }.toByteArray()
    }

    @Test
    fun `a grid worker's day goes through the Kotlin API`() {
        val (store, households) = openWithRoster()
        store.use {
            val home = households.first()
            val resident = store.addResident(
                home.id,
                ResidentInput(
                    name = "王秀英",
                    gender = Gender.FEMALE,
                    birthDate = "1948-03-02",
                    idNumber = null,
                    phone = "13800138000",
                    ethnicity = "汉族",
                    relation = "户主",
                    employment = null,
                    workingAway = false,
                    workPlace = null,
                    movedIn = null,
                ),
            )
            assertEquals("138****8000", resident.phoneMasked)

            val answers = mapOf(
                "household_changes" to AnswerValue.Choices(listOf("none")),
                "health" to AnswerValue.Choice("needs_care"),
                "has_dispute" to AnswerValue.YesNo(false),
                "has_needs" to AnswerValue.YesNo(true),
                "need_types" to AnswerValue.Choices(listOf("elderly_care")),
                "suggestions" to AnswerValue.Text("楼道灯坏了"),
            )
            val need = NeedInput(category = "养老照护", description = "每周送餐", urgency = Urgency.HIGH, dueMs = null)
            val saved = store.recordVisit(visit(home.id, answers, needs = listOf(need), present = listOf(resident.id)))
            assertEquals(worker, saved.workerId)
            assertEquals(answers, saved.answers)
            assertEquals(Urgency.HIGH, saved.followups.single().urgency)

            assertEquals(listOf(saved), store.visitHistory(home.id))
            assertEquals(1u, store.gridHouseholds(home.gridId).first { it.id == home.id }.visitCount)
            assertEquals(saved.followups, store.openFollowups(null))
            store.closeFollowup(saved.followups.single().id, "已联系助餐点")
            assertEquals(emptyList(), store.openFollowups(home.gridId))
            // The visited household is no longer due; the other eleven still are.
            val due = store.dueForVisit(home.gridId, System.currentTimeMillis())
            assertEquals((households.map { it.id } - home.id).sorted(), due.map { it.household.id }.sorted())
            assertEquals("13800138000", store.reveal(resident.id, "phone", "联系走访"))
            assertEquals(1uL, store.verifyAccessLog())
        }
    }

    @Test
    fun `a bad answer is a typed exception carrying field errors and saves nothing`() {
        val (store, households) = openWithRoster()
        store.use {
            val home = households.first()
            val answers = quietAnswers() - "has_needs" + ("health" to AnswerValue.Choice("excellent"))
            val e = assertFailsWith<GridException.InvalidInput> { store.recordVisit(visit(home.id, answers)) }
            val codes = e.errors.associate { it.field to it.code }
            assertEquals(mapOf("answers.health" to "not_an_option", "answers.has_needs" to "required"), codes)
            assertTrue(e.errors.all { it.message.isNotBlank() })
            assertEquals(emptyList(), store.visitHistory(home.id))
            assertFailsWith<GridException.NotFound> { store.household("no-such-household") }
        }
    }

    @Test
    fun `date answers cross as ISO text and forms as JSON`() {
        val (store, households) = openWithRoster()
        store.use {
            store.publishFormJson(
                """{"id":"fire_safety_check","version":1,"title":"消防检查","sections":[{"id":"s","title":"检查",
                   "fields":[{"id":"inspected_on","label":"检查日期","type":"date","required":true}]}]}""",
            )
            assertTrue(store.currentFormJson("fire_safety_check").contains("inspected_on"))
            assertTrue(store.formJson("four_questions", 1u).contains("has_needs"))
            val home = households.first().id
            val ok = mapOf("inspected_on" to AnswerValue.Date("2025-06-01"))
            assertEquals(ok, store.recordVisit(visit(home, ok, formId = "fire_safety_check")).answers)

            val bad = mapOf("inspected_on" to AnswerValue.Date("2025/06/01"))
            val e = assertFailsWith<GridException.InvalidInput> {
                store.recordVisit(visit(home, bad, formId = "fire_safety_check"))
            }
            assertEquals(listOf("answers.inspected_on" to "invalid"), e.errors.map { it.field to it.code })
            val malformed = assertFailsWith<GridException.InvalidInput> { store.publishFormJson("{") }
            assertEquals("form", malformed.errors.single().field)
        }
    }

    @Test
    fun `visible fields are answered by the core from the form JSON and a map of answers`() {
        open().use { store ->
            val json = store.formJson("four_questions", 1u)
            val quiet = visibleFields(json, emptyMap())
            assertTrue("has_needs" in quiet && "need_types" !in quiet)
            val needs = visibleFields(json, mapOf("has_needs" to AnswerValue.YesNo(true), "nope" to AnswerValue.Text("x")))
            assertEquals(quiet.size + 2, needs.size)
            assertEquals(needs.indexOf("has_needs") + 1, needs.indexOf("need_types"))

            val malformed = assertFailsWith<GridException.InvalidInput> { visibleFields("{", emptyMap()) }
            assertEquals("form", malformed.errors.single().field)
        }
    }

    @Test
    fun `a photo's JPEG bytes round-trip and a visit references it`() {
        val (store, households) = openWithRoster()
        store.use {
            val bytes = jpeg()
            val hash = store.addPhoto(bytes)
            assertEquals(64, hash.length)
            assertContentEquals(bytes, store.photo(hash))
            val saved = store.recordVisit(visit(households[1].id, quietAnswers(), photos = listOf(hash)))
            assertEquals(listOf(hash), saved.photos)
            assertFailsWith<GridException.InvalidInput> { store.addPhoto(byteArrayOf(1, 2, 3, 4)) }
        }
    }

    @Test
    fun `a closed store refuses calls and reopens with its data`() {
        val (store, households) = openWithRoster()
        val home = households.first().id
        store.recordVisit(visit(home, quietAnswers()))
        val policy = store.visitPolicy()
        assertEquals(7u, policy.tagDays["elderly_alone"])
        store.setVisitPolicy(policy.copy(defaultDays = 20u))

        store.closeStore()
        assertFailsWith<GridException.Closed> { store.visitHistory(home) }
        store.closeStore() // twice is harmless
        store.close() // frees the Kotlin handle (AutoCloseable)

        assertFailsWith<GridException.WrongKey> {
            GridStore.open(dir.resolve("grid.db").toString(), ByteArray(32) { 9 }, worker)
        }
        open().use { again ->
            assertEquals(1, again.visitHistory(home).size)
            assertEquals(20u, again.visitPolicy().defaultDays)
            assertEquals(worker, again.personId())
        }
    }

    @Test
    fun `calls from several threads at once all land`() {
        val (store, households) = openWithRoster()
        store.use {
            val pool = Executors.newFixedThreadPool(8)
            try {
                val jobs = households.take(8).map { h ->
                    Callable {
                        repeat(3) {
                            store.recordVisit(visit(h.id, quietAnswers()))
                            store.gridHouseholds(h.gridId)
                        }
                        store.visitHistory(h.id).size
                    }
                }
                val counts = pool.invokeAll(jobs, 5, TimeUnit.MINUTES).map { it.get() }
                assertEquals(List(8) { 3 }, counts)
            } finally {
                pool.shutdown()
            }
            val visited = store.gridHouseholds(households.first().gridId).sumOf { it.visitCount.toInt() }
            assertEquals(24, visited)
        }
    }
}
