import SwiftUI

/// The visit form rendered from the form definition: one control per field type, the fields the
/// core says are shown (`model.visibleIds`), the core's messages under each field.
struct VisitFormView: View {
    @StateObject private var model: VisitFormModel
    @Environment(\.dismiss) private var dismiss
    init(householdId: String) { _model = StateObject(wrappedValue: VisitFormModel(householdId: householdId)) }

    var body: some View {
        Form {
            Picker("visit.outcome", selection: $model.outcome) {
                Text("outcome.met").tag(VisitOutcome.met)
                Text("outcome.nobody_home").tag(VisitOutcome.nobodyHome)
                Text("outcome.refused").tag(VisitOutcome.refused)
                Text("outcome.moved_away").tag(VisitOutcome.movedAway)
            }
            if let form = model.form, model.outcome == .met {
                let visible = model.visibleIds
                ForEach(form.sections) { section in
                    let fields = section.fields.filter { visible.contains($0.id) }
                    if !fields.isEmpty {
                        Section(header: Text(section.title)) {
                            ForEach(fields) { field in fieldView(field) }
                        }
                    }
                }
            }
            Section {
                TextField(NSLocalizedString("visit.notes", comment: ""), text: $model.notes)
                ForEach(model.formErrors, id: \.self) { Text($0).foregroundColor(.red) }
                Button("visit.save") { Task { await model.save(); if model.saved { dismiss() } } }
            }
        }
        .navigationTitle(model.form?.title ?? "")
        .task { await model.load() }
    }

    @ViewBuilder
    private func fieldView(_ f: FormField) -> some View {
        VStack(alignment: .leading) {
            Text(f.label + (f.required ? " *" : ""))
            if let hint = f.hint { Text(hint).font(.caption).foregroundColor(.secondary) }
            switch f.type {
            case .singleChoice:
                ForEach(f.options, id: \.value) { o in
                    let on = model.answers[f.id] == .choice(o.value)
                    Button { model.set(f.id, on ? nil : .choice(o.value)) } label: { Label(o.label, systemImage: on ? "largecircle.fill.circle" : "circle") }
                }
            case .multiChoice:
                ForEach(f.options, id: \.value) { o in
                    let chosen: [String] = { if case let .choices(c)? = model.answers[f.id] { return c } else { return [] } }()
                    let on = chosen.contains(o.value)
                    Button {
                        let next = on ? chosen.filter { $0 != o.value } : chosen + [o.value]
                        model.set(f.id, next.isEmpty ? nil : .choices(next))
                    } label: { Label(o.label, systemImage: on ? "checkmark.square" : "square") }
                }
            case .yesNo:
                Picker("", selection: Binding(
                    get: { if case let .yesNo(b)? = model.answers[f.id] { return b ? 1 : 0 } else { return -1 } },
                    set: { model.set(f.id, .yesNo($0 == 1)) })) {
                    Text("common.yes").tag(1)
                    Text("common.no").tag(0)
                }.pickerStyle(.segmented)
            case .number:
                TextField("", text: Binding(
                    get: { if case let .number(n)? = model.answers[f.id] { return n.truncatingRemainder(dividingBy: 1) == 0 ? String(Int64(n)) : String(n) } else { return "" } },
                    set: { model.set(f.id, Double($0.trimmingCharacters(in: .whitespaces)).map(AnswerValue.number)) }))
                    .keyboardType(f.integer ? .numberPad : .decimalPad)
            case .date:
                TextField(NSLocalizedString("visit.date_placeholder", comment: ""), text: Binding(
                    get: { if case let .date(d)? = model.answers[f.id] { return d } else { return "" } },
                    set: { model.set(f.id, $0.isEmpty ? nil : .date($0)) }))
            case .text, .idNumber, .phone:
                TextField("", text: Binding(
                    get: { if case let .text(t)? = model.answers[f.id] { return t } else { return "" } },
                    set: { model.set(f.id, $0.isEmpty ? nil : .text($0)) }))
                    .keyboardType(f.type == .phone ? .phonePad : .default)
            }
            if let e = model.fieldErrors[f.id] { Text(e).font(.caption).foregroundColor(.red) }
        }
    }
}
