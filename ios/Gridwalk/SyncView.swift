import SwiftUI

/// Sync by hand: phases as they happen, then whether everything is uploaded.
struct SyncView: View {
    @StateObject private var model = SyncModel()

    var body: some View {
        Form {
            Text(LocalizedStringKey(model.everythingUploaded ? "sync.everything_uploaded" : "sync.not_everything_uploaded"))
                .font(.headline).foregroundColor(model.everythingUploaded ? .green : .red)
            if let p = model.progress {
                if model.running { ProgressView() }
                Text(String(format: NSLocalizedString("sync.phase %@ %lld", comment: ""), phaseLabel(p.phase), Int(p.round)))
                Text(String(format: NSLocalizedString("sync.documents %lld %lld", comment: ""), Int(p.documentsUp), Int(p.documentsDown)))
                Text(String(format: NSLocalizedString("sync.bytes %lld %lld", comment: ""), Int(p.bytesUp / 1024), Int(p.bytesDown / 1024)))
            }
            if model.report != nil {
                Text(String(format: NSLocalizedString("sync.photos %lld %lld", comment: ""), Int(model.photosUp), Int(model.photosDown)))
            }
            if model.offline { Text("sync.offline").foregroundColor(.red) }
            else if let e = model.error { Text(e).foregroundColor(.red) }
            if model.running {
                Button("common.cancel") { model.cancel() }
            } else {
                Button("sync.now") { Task { await model.run() } }
            }
        }
        .navigationTitle(Text("tab.sync"))
        .task { await model.refresh() }
    }

    private func phaseLabel(_ p: SyncPhase) -> String {
        switch p {
        case .preparing: return NSLocalizedString("sync.preparing", comment: "")
        case .exchanging: return NSLocalizedString("sync.exchanging", comment: "")
        case .applying: return NSLocalizedString("sync.applying", comment: "")
        case .done: return NSLocalizedString("sync.done", comment: "")
        }
    }
}

/// First start (or after a revocation): office address and the one-time code.
struct EnrolView: View {
    @State private var url = "https://"
    @State private var code = ""
    @State private var busy = false
    @State private var error: String?

    var body: some View {
        Form {
            Text("enrol.title").font(.headline)
            TextField(NSLocalizedString("enrol.address", comment: ""), text: $url).keyboardType(.URL).autocapitalization(.none)
            TextField(NSLocalizedString("enrol.code", comment: ""), text: $code)
            if let error { Text(error).foregroundColor(.red) }
            Button("enrol.button") {
                busy = true
                Task {
                    do { try await Shell.shared.enrol(baseUrl: url.trimmingCharacters(in: .whitespaces), code: code.trimmingCharacters(in: .whitespaces)) }
                    catch { self.error = message(error) }
                    busy = false
                }
            }.disabled(busy)
        }
    }
}
