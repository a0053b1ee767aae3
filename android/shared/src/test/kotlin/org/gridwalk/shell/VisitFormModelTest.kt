package org.gridwalk.shell

import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.gridwalk_core.AnswerValue

class VisitFormModelTest {
    @TempDir
    lateinit var dir: Path

    private fun VisitFormState.renderedIds() = visibleSections.flatMap { s -> s.fields.map { it.id } }

    @Test
    fun `the four questions render from the form JSON and the core hides irrelevant fields`() = runBlocking<Unit> {
        TestStore(dir).use { t ->
            val households = t.store.gridHouseholds(t.gridId)
            val model = VisitFormModel(t.repo, households.first().id)
            model.load()
            val form = assertIs<Loadable.Ready<FormSpec>>(model.state.value.form).value
            assertEquals("four_questions", form.id)
            assertEquals(listOf("问基本情况", "问家长里短", "问困难需求", "问意见建议"), form.sections.map { it.title })
            val byId = form.fields.associateBy { it.id }
            assertEquals(FieldType.MULTI, byId.getValue("household_changes").type)
            assertEquals(FieldType.SINGLE, byId.getValue("health").type)
            assertEquals(FieldType.YES_NO, byId.getValue("has_needs").type)
            assertEquals(FieldType.TEXT, byId.getValue("suggestions").type)
            assertTrue(byId.getValue("household_changes").required)
            assertEquals("无变化", byId.getValue("household_changes").options.first().label)

            // Fields behind "has a dispute" / "has needs" stay hidden until the answer is yes.
            val hidden = setOf("dispute_kind", "dispute_notes", "need_types", "need_notes")
            assertTrue(model.state.value.renderedIds().none { it in hidden })
            model.answer("has_needs", AnswerValue.YesNo(true))
            assertTrue(model.state.value.renderedIds().containsAll(listOf("need_types", "need_notes")))
            model.answer("need_types", AnswerValue.Choices(listOf("elderly_care")))
            model.answer("has_needs", AnswerValue.YesNo(false))
            assertFalse("need_types" in model.state.value.renderedIds())
            // The hidden answer is kept (in case the worker flips back) but not sent.
            assertFalse("need_types" in model.state.value.shownAnswers)

            model.answer("household_changes", AnswerValue.Choices(listOf("none")))
            model.answer("has_dispute", AnswerValue.YesNo(false))
            assertTrue(model.save())
            val saved = assertNotNull(model.state.value.saved)
            assertEquals(setOf("household_changes", "has_dispute", "has_needs"), saved.answers.keys)
        }
    }

    @Test
    fun `the core's invalid input becomes a message under each field and nothing is saved`() = runBlocking<Unit> {
        TestStore(dir).use { t ->
            val home = t.store.gridHouseholds(t.gridId).first().id
            val model = VisitFormModel(t.repo, home)
            model.load()
            model.answer("has_dispute", AnswerValue.YesNo(true))
            model.answer("health", AnswerValue.Choice("excellent"))

            assertFalse(model.save())
            val errors = model.state.value.fieldErrors
            assertEquals(setOf("household_changes", "health", "dispute_kind", "has_needs"), errors.keys)
            assertTrue(errors.values.all { it.isNotBlank() })
            assertEquals(emptyList(), t.store.visitHistory(home))

            // Answering a field clears its message.
            model.answer("health", AnswerValue.Choice("good"))
            assertFalse("health" in model.state.value.fieldErrors)
        }
    }

    @Test
    fun `an office form with every field type and nested conditions renders generically`() = runBlocking<Unit> {
        TestStore(dir).use { t ->
            t.store.publishFormJson(
                """
                {"id":"fire_check","version":2,"title":"消防检查","sections":[{"id":"s","title":"检查","fields":[
                  {"id":"checked_on","label":"检查日期","type":"date","required":true},
                  {"id":"extinguishers","label":"灭火器数量","type":"number","min":0,"integer":true},
                  {"id":"hazards","label":"隐患","type":"multi_choice","options":[{"value":"wires","label":"飞线充电"},{"value":"exit","label":"通道堵塞"}]},
                  {"id":"exit_notes","label":"通道说明","type":"text","relevant":{"op":"contains","field":"hazards","value":"exit"}},
                  {"id":"risk","label":"风险等级","type":"single_choice","options":[{"value":"low","label":"低"},{"value":"high","label":"高"}]},
                  {"id":"fixed","label":"当场整改","type":"yes_no",
                   "relevant":{"op":"all","conds":[{"op":"answered","field":"hazards"},{"op":"not","cond":{"op":"equals","field":"risk","value":{"type":"choice","value":"low"}}}]}},
                  {"id":"exit_cleared","label":"通道已清理","type":"yes_no","required":true,
                   "relevant":{"op":"answered","field":"exit_notes"}}
                ]}]}
                """.trimIndent(),
            )
            val model = VisitFormModel(t.repo, t.store.gridHouseholds(t.gridId).first().id, formId = "fire_check")
            model.load()
            val form = assertIs<Loadable.Ready<FormSpec>>(model.state.value.form).value
            assertEquals(2u, form.version)
            assertEquals(
                listOf(FieldType.DATE, FieldType.NUMBER, FieldType.MULTI, FieldType.TEXT, FieldType.SINGLE, FieldType.YES_NO, FieldType.YES_NO),
                form.fields.map { it.type },
            )
            assertTrue(form.fields.single { it.id == "extinguishers" }.integer)
            assertEquals(listOf("checked_on", "extinguishers", "hazards", "risk"), model.state.value.renderedIds())

            model.answer("hazards", AnswerValue.Choices(listOf("exit")))
            assertEquals(listOf("checked_on", "extinguishers", "hazards", "exit_notes", "risk", "fixed"), model.state.value.renderedIds())
            model.answer("risk", AnswerValue.Choice("low"))
            assertFalse("fixed" in model.state.value.renderedIds())

            // A condition on a hidden field: the kept exit note no longer counts once the exit
            // hazard is unticked, so the required follow-up hides with it and is not asked on save.
            model.answer("exit_notes", AnswerValue.Text("楼道堆物"))
            assertTrue("exit_cleared" in model.state.value.renderedIds())
            model.answer("hazards", AnswerValue.Choices(listOf("wires")))
            assertEquals(listOf("checked_on", "extinguishers", "hazards", "risk"), model.state.value.renderedIds())
            assertEquals(setOf("hazards", "risk"), model.state.value.shownAnswers.keys)

            model.answer("checked_on", AnswerValue.Date("2025/06/01"))
            assertFalse(model.save())
            assertEquals(setOf("checked_on"), model.state.value.fieldErrors.keys)
            model.answer("checked_on", AnswerValue.Date("2025-06-01"))
            model.answer("extinguishers", AnswerValue.Number(2.0))
            assertTrue(model.save())
        }
    }
}
