// The Android shell: Compose screens and platform glue (Keystore, camera, WorkManager). The
// view models live in :shared; the rules in the Rust core. Built in Android Studio, not in CI.
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

android {
    namespace = "org.gridwalk.android"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.gridwalk.android"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    buildFeatures { compose = true }
    // libgridwalk_ffi.so per ABI, from the cargoNdk task below.
    sourceSets["main"].jniLibs.srcDir(layout.buildDirectory.dir("rustJniLibs"))
}

// Builds the Rust library for the three ABIs before every build (cargo is incremental, so this
// is quick when nothing changed). Set gridwalk.skipRust=true to use libraries built by hand.
val cargoNdk by tasks.registering(Exec::class) {
    group = "build"
    description = "Builds libgridwalk_ffi.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk"
    onlyIf { !providers.gradleProperty("gridwalk.skipRust").isPresent }
    commandLine(rootDir.resolve("build-rust.sh").absolutePath, "release")
}
tasks.named("preBuild") { dependsOn(cargoNdk) }

dependencies {
    implementation(project(":shared"))
    // JNA's AAR carries libjnidispatch.so for each ABI; the uniffi bindings call through it.
    implementation("net.java.dev.jna:jna:5.17.0@aar")

    val composeBom = platform("androidx.compose:compose-bom:2025.05.00")
    implementation(composeBom)
    implementation("androidx.compose.material3:material3")
    implementation("androidx.compose.ui:ui")
    implementation("androidx.compose.ui:ui-tooling-preview")
    implementation("androidx.activity:activity-compose:1.10.1")
    implementation("androidx.navigation:navigation-compose:2.9.0")
    implementation("androidx.lifecycle:lifecycle-viewmodel-compose:2.9.0")
    implementation("androidx.lifecycle:lifecycle-runtime-compose:2.9.0")
    implementation("androidx.work:work-runtime-ktx:2.10.1")
}
