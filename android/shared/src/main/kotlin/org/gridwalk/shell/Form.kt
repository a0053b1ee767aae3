package org.gridwalk.shell

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import uniffi.gridwalk_core.AnswerValue

/*
 * A form definition as the screens need it, read from the JSON that GridStore.formJson /
 * currentFormJson return (the format of gridwalk-core's FormDefinition). The shell renders any
 * form the office publishes from this; it never validates answers: GridStore.recordVisit does,
 * and its field errors are shown next to the fields.
 */

/** How a field is entered; `type` in the JSON. */
enum class FieldType(val json: String) {
    TEXT("text"),
    SINGLE("single_choice"),
    MULTI("multi_choice"),
    NUMBER("number"),
    DATE("date"),
    YES_NO("yes_no"),
    ID_NUMBER("id_number"),
    PHONE("phone"),
    ;

    companion object {
        fun of(json: String): FieldType? = entries.firstOrNull { it.json == json }
    }
}

/** One option of a choice field. */
data class FormOption(val value: String, val label: String)

/** One field, with what the renderer needs (limits only pick the keyboard and hints). */
data class FormField(
    val id: String,
    val label: String,
    val type: FieldType,
    val required: Boolean,
    val hint: String?,
    val options: List<FormOption>,
    val integer: Boolean,
    val relevant: Condition?,
)

/** A titled group of fields. */
data class FormSection(val id: String, val title: String, val fields: List<FormField>)

/** A form version. */
data class FormSpec(val id: String, val version: UInt, val title: String, val sections: List<FormSection>) {
    val fields: List<FormField> get() = sections.flatMap { it.fields }

    companion object {
        /**
         * Reads a form definition. A field of a type this shell does not know is shown as text
         * (the core still validates it), so a newer office form never breaks an older app.
         */
        fun parse(json: String): FormSpec {
            val root = Json.parseToJsonElement(json).jsonObject
            return FormSpec(
                id = root.str("id"),
                version = root.getValue("version").jsonPrimitive.content.toUInt(),
                title = root.str("title"),
                sections = root.getValue("sections").jsonArray.map { s ->
                    val so = s.jsonObject
                    FormSection(so.str("id"), so.str("title"), so.getValue("fields").jsonArray.map { field(it.jsonObject) })
                },
            )
        }

        private fun field(o: JsonObject) = FormField(
            id = o.str("id"),
            label = o.str("label"),
            type = FieldType.of(o.str("type")) ?: FieldType.TEXT,
            required = o["required"]?.jsonPrimitive?.booleanOrNull ?: false,
            hint = o.optStr("hint"),
            options = (o["options"] as? JsonArray).orEmpty().map {
                FormOption(it.jsonObject.str("value"), it.jsonObject.str("label"))
            },
            integer = (o["integer"] as? JsonPrimitive)?.booleanOrNull ?: false,
            relevant = o["relevant"]?.takeUnless { it is JsonNull }?.let { Condition.parse(it.jsonObject) },
        )
    }
}

/**
 * When a field is shown (`relevant` in the JSON, tagged by `op`). Evaluated only to show or
 * hide fields while the worker types; the core evaluates the same condition again when the
 * visit is saved and is the authority.
 */
sealed interface Condition {
    fun holds(answers: Map<String, AnswerValue>): Boolean

    data class Equals(val field: String, val value: AnswerValue) : Condition {
        override fun holds(answers: Map<String, AnswerValue>) = answers[field] == value
    }

    data class AnyOf(val field: String, val values: List<AnswerValue>) : Condition {
        override fun holds(answers: Map<String, AnswerValue>) = answers[field]?.let { it in values } ?: false
    }

    data class Contains(val field: String, val value: String) : Condition {
        override fun holds(answers: Map<String, AnswerValue>) =
            (answers[field] as? AnswerValue.Choices)?.v1?.contains(value) ?: false
    }

    data class Answered(val field: String) : Condition {
        override fun holds(answers: Map<String, AnswerValue>) = answers[field]?.let { !isBlank(it) } ?: false
    }

    data class Not(val cond: Condition) : Condition {
        override fun holds(answers: Map<String, AnswerValue>) = !cond.holds(answers)
    }

    data class All(val conds: List<Condition>) : Condition {
        override fun holds(answers: Map<String, AnswerValue>) = conds.all { it.holds(answers) }
    }

    data class AnyTrue(val conds: List<Condition>) : Condition {
        override fun holds(answers: Map<String, AnswerValue>) = conds.any { it.holds(answers) }
    }

    /** An operator this shell does not know: show the field and let the core decide. */
    data object Unknown : Condition {
        override fun holds(answers: Map<String, AnswerValue>) = true
    }

    companion object {
        fun parse(o: JsonObject): Condition = when (o.str("op")) {
            "equals" -> Equals(o.str("field"), answerFromJson(o.getValue("value").jsonObject))
            "any_of" -> AnyOf(o.str("field"), o.getValue("values").jsonArray.map { answerFromJson(it.jsonObject) })
            "contains" -> Contains(o.str("field"), o.str("value"))
            "answered" -> Answered(o.str("field"))
            "not" -> Not(parse(o.getValue("cond").jsonObject))
            "all" -> All(o.getValue("conds").jsonArray.map { parse(it.jsonObject) })
            "any" -> AnyTrue(o.getValue("conds").jsonArray.map { parse(it.jsonObject) })
            else -> Unknown
        }
    }
}

/** An answer in its JSON form `{"type":"yes_no","value":true}` (gridwalk-core's serde format). */
fun answerFromJson(o: JsonObject): AnswerValue {
    val v: JsonElement = o.getValue("value")
    return when (o.str("type")) {
        "text" -> AnswerValue.Text(v.jsonPrimitive.content)
        "choice" -> AnswerValue.Choice(v.jsonPrimitive.content)
        "choices" -> AnswerValue.Choices(v.jsonArray.map { it.jsonPrimitive.content })
        "number" -> AnswerValue.Number(v.jsonPrimitive.doubleOrNull ?: Double.NaN)
        "date" -> AnswerValue.Date(v.jsonPrimitive.content)
        "yes_no" -> AnswerValue.YesNo(v.jsonPrimitive.booleanOrNull ?: false)
        else -> AnswerValue.Text(v.toString())
    }
}

/** Whether an answer is "not given" as the form shows it (blank text, nothing chosen). */
fun isBlank(a: AnswerValue): Boolean = when (a) {
    is AnswerValue.Text -> a.v1.isBlank()
    is AnswerValue.Date -> a.v1.isBlank()
    is AnswerValue.Choice -> a.v1.isEmpty()
    is AnswerValue.Choices -> a.v1.isEmpty()
    is AnswerValue.Number, is AnswerValue.YesNo -> false
}

private fun JsonObject.str(key: String): String = getValue(key).jsonPrimitive.content

private fun JsonObject.optStr(key: String): String? =
    (this[key] as? JsonPrimitive)?.takeUnless { it is JsonNull }?.content
