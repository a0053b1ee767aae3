import BackgroundTasks
import Foundation

/// Syncs in the background with BGTaskScheduler: a processing task that requires a network
/// (iOS runs it when the phone is idle, typically charging on the office or home Wi-Fi).
enum BackgroundSync {
    static let identifier = "org.gridwalk.sync"

    /// Called once at launch, before the app finishes launching.
    static func register() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            handle(task as! BGProcessingTask)
        }
    }

    static func schedule() {
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresNetworkConnectivity = true
        request.requiresExternalPower = false
        request.earliestBeginDate = Date(timeIntervalSinceNow: 60 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }

    static func cancel() {
        BGTaskScheduler.shared.cancel(taskRequestWithIdentifier: identifier)
    }

    private static func handle(_ task: BGProcessingTask) {
        Task { @MainActor in
            guard Shell.shared.enrolled else { task.setTaskCompleted(success: true); return }
            schedule() // the next one
            let model = SyncModel()
            task.expirationHandler = { Task { @MainActor in model.cancel() } }
            await model.run()
            task.setTaskCompleted(success: model.error == nil && !model.offline)
        }
    }
}
