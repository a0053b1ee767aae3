// View models and repositories: plain Kotlin, no Android dependencies, so the same sources are
// tested on the JVM (Maven, shared/pom.xml, run by scripts/test-shells.sh) and used by :app.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
    sourceSets {
        main {
            kotlin.srcDirs(
                "src/main/kotlin",
                // The generated uniffi bindings, owned by bindings/ (never edited here).
                "../../bindings/kotlin/src/main/kotlin",
                // Adapters over the event and sync exports of GridStore and SyncClient.
                "src/ffi/kotlin",
            )
        }
    }
}

dependencies {
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.10.2")
    implementation("org.jetbrains.kotlinx:kotlinx-serialization-json:1.8.1")
    // The app links JNA's Android AAR (with its native dispatch library); the JVM tests the jar.
    compileOnly("net.java.dev.jna:jna:5.17.0")

    testImplementation("net.java.dev.jna:jna:5.17.0")
    testImplementation(platform("org.junit:junit-bom:5.12.2"))
    testImplementation("org.junit.jupiter:junit-jupiter")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
    testImplementation("org.jetbrains.kotlin:kotlin-test-junit5")
}

tasks.test {
    useJUnitPlatform()
    // libgridwalk_ffi for the host, from `cargo build -p gridwalk-ffi` at the workspace root.
    systemProperty(
        "jna.library.path",
        providers.gradleProperty("gridwalk.lib.dir").getOrElse(rootDir.resolve("../target/debug").absolutePath),
    )
}
