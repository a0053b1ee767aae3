package org.gridwalk.shell

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive

/*
 * A form definition as the screens need it, read from the JSON that GridStore.formJson /
 * currentFormJson return (the format of gridwalk-core's FormDefinition). The shell renders any
 * form the office publishes from this, and nothing more: which fields are shown comes from the
 * core (visibleFields, see VisitFormModel), and GridStore.recordVisit validates, its field errors
 * shown next to the fields. The fields' `relevant` conditions are deliberately not read here.
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
)

/** A titled group of fields. */
data class FormSection(val id: String, val title: String, val fields: List<FormField>)

/** A form version; [json] is the definition as the core sent it, to ask the core about it. */
data class FormSpec(
    val id: String,
    val version: UInt,
    val title: String,
    val sections: List<FormSection>,
    val json: String,
) {
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
                json = json,
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
        )
    }
}

private fun JsonObject.str(key: String): String = getValue(key).jsonPrimitive.content

private fun JsonObject.optStr(key: String): String? =
    (this[key] as? JsonPrimitive)?.takeUnless { it is JsonNull }?.content
