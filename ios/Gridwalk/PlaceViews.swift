import SwiftUI

struct GridListView: View {
    @StateObject private var model = GridListModel()

    var body: some View {
        List(model.grids) { g in
            NavigationLink(destination: GridView(gridId: g.place.id)) {
                VStack(alignment: .leading) {
                    Text(g.place.name)
                    Text(String(format: NSLocalizedString("grid.counts %lld %lld", comment: ""),
                                Int(g.counts?.households ?? 0), Int(g.counts?.visitedThisMonth ?? 0))).font(.caption)
                }
            }
        }
        .navigationTitle(Text("tab.grids"))
        .task { await model.load() }
        .overlay { if let e = model.error { Text(e).foregroundColor(.red) } }
    }
}

/// The buildings of a grid with how many households are due for a visit.
struct GridView: View {
    @StateObject private var model: HouseholdListModel
    init(gridId: String) { _model = StateObject(wrappedValue: HouseholdListModel(gridId: gridId)) }

    var body: some View {
        List(model.buildings) { b in
            NavigationLink(destination: BuildingView(model: model, buildingId: b.id)) {
                HStack {
                    Text(b.name)
                    Spacer()
                    if b.dueCount > 0 { DueBadge(count: b.dueCount) }
                }
            }
        }
        .toolbar { NavigationLink(destination: SnapView(gridId: model.gridId)) { Text("snap.title") } }
        .task { await model.load() }
    }
}

/// One building's households by unit, with the due-for-visit marker.
struct BuildingView: View {
    @ObservedObject var model: HouseholdListModel
    let buildingId: String

    var body: some View {
        let building = model.buildings.first { $0.id == buildingId }
        List {
            ForEach(building?.units ?? []) { unit in
                Section(header: Text(String(format: NSLocalizedString("unit.title %@", comment: ""), unit.unit))) {
                    ForEach(unit.households) { row in
                        NavigationLink(destination: HouseholdView(householdId: row.id)) {
                            HStack {
                                VStack(alignment: .leading) {
                                    Text(row.household.door + " " + (row.household.headName ?? ""))
                                    if row.household.lastVisitMs == nil { Text("household.never_visited").font(.caption) }
                                }
                                Spacer()
                                if row.due { Text("household.due").font(.caption).padding(4).background(Color.orange.opacity(0.2)).cornerRadius(4) }
                            }
                        }
                    }
                }
            }
        }
        .navigationTitle(building?.name ?? "")
    }
}

struct DueBadge: View {
    let count: Int
    var body: some View {
        Text(String(format: NSLocalizedString("due.count %lld", comment: ""), count))
            .font(.caption).padding(4).background(Color.orange.opacity(0.2)).cornerRadius(4)
    }
}

/// A household: residents masked; a full value asks for a purpose.
struct HouseholdView: View {
    @StateObject private var model: HouseholdModel
    @State private var asking: (residentId: String, field: String)?
    @State private var purpose = ""
    init(householdId: String) { _model = StateObject(wrappedValue: HouseholdModel(householdId: householdId)) }

    var body: some View {
        List {
            if let h = model.household {
                Section {
                    Text(h.address).font(.headline)
                    NavigationLink(destination: VisitFormView(householdId: h.id)) { Text("visit.start") }
                }
                Section(header: Text("household.residents")) {
                    ForEach(h.residents, id: \.id) { r in
                        VStack(alignment: .leading) {
                            Text("\(r.name)  \(r.relation)")
                            if let id = r.idNumberMasked { maskedLine("resident.id_number", model.revealed["\(r.id)/id_number"] ?? id, r.id, "id_number") }
                            if let phone = r.phoneMasked { maskedLine("resident.phone", model.revealed["\(r.id)/phone"] ?? phone, r.id, "phone") }
                        }
                    }
                }
                Section(header: Text("household.visits")) {
                    ForEach(model.visits, id: \.id) { v in
                        Text(Date(timeIntervalSince1970: Double(v.startedMs) / 1000), style: .date)
                    }
                }
            }
        }
        .task { await model.load() }
        .onDisappear { model.hide() }
        .alert(Text("reveal.title"), isPresented: Binding(get: { asking != nil }, set: { if !$0 { asking = nil } })) {
            TextField(NSLocalizedString("reveal.purpose", comment: ""), text: $purpose)
            Button("reveal.confirm") {
                guard let a = asking else { return }
                Task { _ = await model.reveal(residentId: a.residentId, field: a.field, purpose: purpose); purpose = "" }
            }
            Button("common.cancel", role: .cancel) {}
        } message: {
            Text(model.revealError ?? NSLocalizedString("reveal.explain", comment: ""))
        }
    }

    private func maskedLine(_ label: LocalizedStringKey, _ value: String, _ residentId: String, _ field: String) -> some View {
        HStack {
            Text(label).font(.caption)
            Text(value).font(.caption.monospaced())
            if model.revealed["\(residentId)/\(field)"] == nil {
                Button("reveal.button") { asking = (residentId, field) }.font(.caption)
            }
        }
    }
}
