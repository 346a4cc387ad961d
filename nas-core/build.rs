//! With the `tch` feature: compiles `cpp/convolution_backward.cpp`, the call into
//! libtorch's convolution backward that tch does not bind, against the libtorch that
//! torch-sys found (its `libtorch_lib` metadata), with the same C++ ABI setting.
//! Without the feature it does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Build scripts see the package's features as `cfg`s too.
    #[cfg(feature = "tch")]
    tch_shim::build();
}

#[cfg(feature = "tch")]
mod tch_shim {
    use std::path::PathBuf;
    use std::process::Command;

    pub fn build() {
        let src = "cpp/convolution_backward.cpp";
        println!("cargo:rerun-if-changed={src}");
        for var in [
            "LIBTORCH_USE_PYTORCH",
            "LIBTORCH_CXX11_ABI",
            "LIBTORCH_INCLUDE",
        ] {
            println!("cargo:rerun-if-env-changed={var}");
        }
        // torch-sys (`links = "tch"`) passes the library folder it links against.
        let lib = PathBuf::from(
            std::env::var("DEP_TCH_LIBTORCH_LIB")
                .expect("torch-sys did not report libtorch's folder (DEP_TCH_LIBTORCH_LIB)"),
        );
        let root = match std::env::var("LIBTORCH_INCLUDE") {
            Ok(dir) => PathBuf::from(dir),
            Err(_) => lib
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| lib.clone()),
        };
        let include = root.join("include");
        assert!(
            include.join("ATen/ops/convolution_backward.h").is_file(),
            "libtorch's headers are not in {} (set LIBTORCH_INCLUDE to the folder above `include`)",
            include.display()
        );
        cc::Build::new()
            .cpp(true)
            .pic(true)
            .warnings(false)
            .include(&include)
            .include(include.join("torch/csrc/api/include"))
            .flag("-std=c++17")
            .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", cxx11_abi()))
            .flag("-DGLOG_USE_GLOG_EXPORT")
            .file(src)
            .compile("nas_tch");
    }

    /// The C++ ABI libtorch was built with: as torch-sys decides it (from PyTorch itself
    /// with `LIBTORCH_USE_PYTORCH`, else `LIBTORCH_CXX11_ABI`, else 1).
    fn cxx11_abi() -> String {
        if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
            let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
                "python"
            } else {
                "python3"
            };
            let out = Command::new(python)
                .args([
                    "-c",
                    "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))",
                ])
                .output()
                .unwrap_or_else(|e| panic!("running {python} to ask PyTorch its C++ ABI: {e}"));
            let abi = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(
                abi == "0" || abi == "1",
                "PyTorch's C++ ABI: unexpected answer {abi:?} from {python} ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            abi
        } else {
            std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string())
        }
    }
}
