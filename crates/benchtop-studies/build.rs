//! The `libtorch` build compiles two C++ functions against LibTorch's headers: its own
//! convolution and layer-norm backward passes, which tch does not bind
//! (src/ml/libtorch_ops.cpp says why).
//! Other builds compile nothing.

fn main() {
    println!("cargo:rerun-if-changed=src/ml/libtorch_ops.cpp");
    #[cfg(feature = "libtorch")]
    libtorch::compile();
}

#[cfg(feature = "libtorch")]
mod libtorch {
    use std::path::PathBuf;

    pub fn compile() {
        // torch-sys (links = "tch") hands its dependents the library folder it linked; the
        // headers sit beside it, as in LibTorch's archive and scripts/with-libtorch.sh's copy.
        let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
            panic!("the `libtorch` build needs torch-sys to have found LibTorch (run cargo under scripts/with-libtorch.sh)");
        };
        let Some(root) = lib.parent() else { panic!("LibTorch's library folder {} has no parent", lib.display()) };
        let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
        println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
        cc::Build::new()
            .cpp(true)
            .pic(true)
            .std("c++17")
            .include(root.join("include"))
            .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
            .define("GLOG_USE_GLOG_EXPORT", None)
            .warnings(false)
            .file("src/ml/libtorch_ops.cpp")
            .compile("benchtop_libtorch_ops");
    }
}
