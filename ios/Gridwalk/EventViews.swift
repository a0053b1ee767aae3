import SwiftUI
import UIKit

/// Events with status and time to the deadline; overdue ones in red.
struct EventListView: View {
    @StateObject private var model = EventListModel()

    var body: some View {
        List(model.rows) { row in
            VStack(alignment: .leading) {
                Text("\(row.event.category) · \(statusLabel(row.event.state))")
                if let left = row.msLeft {
                    Text(timeLeft(left)).font(.caption).foregroundColor(row.overdue ? .red : .secondary)
                } else {
                    Text("event.closed").font(.caption)
                }
            }
        }
        .navigationTitle(Text("tab.events"))
        .task { await model.load() }
        .refreshable { await model.load() }
    }
}

func statusLabel(_ s: EventState) -> String {
    switch s {
    case .registered: return NSLocalizedString("status.registered", comment: "")
    case .dispatched: return NSLocalizedString("status.dispatched", comment: "")
    case .handled: return NSLocalizedString("status.handled", comment: "")
    case .verified: return NSLocalizedString("status.verified", comment: "")
    case .closed: return NSLocalizedString("status.closed", comment: "")
    }
}

/// "剩余 3 小时 20 分" / "已超时 1 小时 5 分" (wall clock).
func timeLeft(_ ms: Int64) -> String {
    let minutes = abs(ms) / 60_000
    let span = String(format: NSLocalizedString("duration %lld %lld", comment: ""), minutes / 60, minutes % 60)
    return String(format: NSLocalizedString(ms >= 0 ? "time.left %@" : "time.overdue %@", comment: ""), span)
}

/// 随手拍 with the camera; the JPEG goes into the store (addCameraPhoto strips its metadata).
struct SnapView: View {
    @StateObject private var model: SnapModel
    @State private var camera = false
    @Environment(\.dismiss) private var dismiss
    init(gridId: String) { _model = StateObject(wrappedValue: SnapModel(gridId: gridId)) }

    var body: some View {
        Form {
            Button(String(format: NSLocalizedString("snap.take_photo %lld", comment: ""), model.photos.count)) { camera = true }
            Picker("snap.category", selection: $model.category) {
                ForEach(model.categories, id: \.code) { Text($0.name).tag($0.code) }
            }
            if let e = model.fieldErrors["category"] { Text(e).foregroundColor(.red) }
            TextField(NSLocalizedString("snap.place", comment: ""), text: $model.place)
            if let e = model.fieldErrors["place"] ?? model.fieldErrors["place.text"] { Text(e).foregroundColor(.red) }
            TextField(NSLocalizedString("snap.description", comment: ""), text: $model.text)
            if let e = model.fieldErrors["description"] { Text(e).foregroundColor(.red) }
            if let e = model.error { Text(e).foregroundColor(.red) }
            Button("snap.file") { Task { await model.file(); if model.filed { dismiss() } } }
        }
        .navigationTitle(Text("snap.title"))
        .task { await model.load() }
        .sheet(isPresented: $camera) {
            CameraPicker { jpeg in Task { await model.addPhoto(jpeg) } }
        }
        .alert(Text("snap.duplicates"), isPresented: Binding(get: { !model.duplicates.isEmpty }, set: { if !$0 { model.duplicates = [] } })) {
            Button("snap.file_anyway") { Task { await model.file(confirmed: true); if model.filed { dismiss() } } }
            Button("common.cancel", role: .cancel) {}
        }
    }
}

/// The system camera; hands back JPEG bytes and keeps no file.
struct CameraPicker: UIViewControllerRepresentable {
    let onJpeg: (Data) -> Void

    func makeUIViewController(context: Context) -> UIImagePickerController {
        let picker = UIImagePickerController()
        picker.sourceType = UIImagePickerController.isSourceTypeAvailable(.camera) ? .camera : .photoLibrary
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ controller: UIImagePickerController, context: Context) {}
    func makeCoordinator() -> Coordinator { Coordinator(onJpeg) }

    final class Coordinator: NSObject, UIImagePickerControllerDelegate, UINavigationControllerDelegate {
        let onJpeg: (Data) -> Void
        init(_ onJpeg: @escaping (Data) -> Void) { self.onJpeg = onJpeg }

        func imagePickerController(_ picker: UIImagePickerController, didFinishPickingMediaWithInfo info: [UIImagePickerController.InfoKey: Any]) {
            if let image = info[.originalImage] as? UIImage, let jpeg = image.jpegData(compressionQuality: 0.85) { onJpeg(jpeg) }
            picker.dismiss(animated: true)
        }

        func imagePickerControllerDidCancel(_ picker: UIImagePickerController) { picker.dismiss(animated: true) }
    }
}
