import SwiftUI

@main
struct GridwalkApp: App {
    @StateObject private var shell = Shell.shared
    @Environment(\.scenePhase) private var phase

    init() {
        BackgroundSync.register()
    }

    var body: some Scene {
        WindowGroup {
            if shell.enrolled {
                TabView {
                    NavigationView { GridListView() }.tabItem { Label("tab.grids", systemImage: "square.grid.3x3") }
                    NavigationView { EventListView() }.tabItem { Label("tab.events", systemImage: "exclamationmark.bubble") }
                    NavigationView { SyncView() }.tabItem { Label("tab.sync", systemImage: "arrow.triangle.2.circlepath") }
                }
            } else {
                EnrolView()
            }
        }
        .onChange(of: phase) { p in
            if p == .background && shell.enrolled { BackgroundSync.schedule() }
        }
    }
}
