"""Group `perf report --sort symbol` self-time lines into kinds of work; print one table row.

Symbols are matched in order, first match wins. Without call graphs (our dependencies are
built without frame pointers, and DWARF unwinding takes minutes per shape) a closure is
counted where its own symbol says, so generic ones (`FnOnce::call_once`) fall into "other".
"""
import re
import sys

# The LibTorch backend's symbols (profile-shapes.sh --libtorch, where each line also names
# its library): oneDNN's generated convolution kernels have no symbol ("[JIT]"), MKL's
# products are `mkl_blas`, its vectorised maths `mkl_vml`, LibTorch's element-wise and copy
# loops `VectorizedLoop2d<at::native::...>`, its dispatch `c10::impl`/`at::_ops`, OpenMP's
# pool `libgomp`. Pooling counts with the convolutions' other work, on either backend.
GROUPS = [
    ("gemm", r"gemm|\[JIT\]|dnnl"),
    ("conv", r"burn_flex::ops::conv|max_pool|avg_pool"),
    ("elementwise", r"macerator|binary_op|unary_op|scalar_op|zip_|expf|erff|erfc|xflowf|logf|log1p|tanh|libm|powf|sqrt|clamp|activation"
     r"|mkl_vml|vsexp|Sleef|VectorizedLoop2d<at::native::\(anonymous|loop_2d_from_1d<at::native::\(anonymous"),
    ("reductions", r"reduce|sum_dim|mean_dim|max_dim|argmax|softmax|cumsum|vectorized_inner_sum|vectorized_outer_sum"),
    ("copies", r"memmove|memcpy|copy_2d|memset|gather|select|slice|cat_|permute|swap_dims|reshape|contiguous|into_data|from_data|to_vec|copy_|direct_copy"),
    # benchtop_kernels is the fused optimiser step (before "host", which matches benchtop).
    ("autodiff", r"benchtop_kernels|burn_autodiff|burn_dispatch|burn_backend|burn_tensor|burn_optim|burn_core|burn_nn|Arc|hashbrown|HashMap|drop_in_place|spin::"
     r"|burn_tch|tch::|atg_|c10::impl|c10::Dispatch|c10::TensorImpl|c10::intrusive|at::_ops|OperatorEntry"),
    ("kernel", r"\[k\]|malloc|_int_free|_int_malloc|cfree|realloc|mmap|munmap|page"),
    ("waiting", r"rayon|sched_yield|crossbeam|futex|park|libgomp|GOMP"),
    ("host", r"benchtop|rand|chacha|tokenizers"),
]


def main():
    shape, cores = sys.argv[1], sys.argv[2]
    shares = {name: 0.0 for name, _ in GROUPS}
    other = 0.0
    for line in sys.stdin:
        # `--sort symbol` lines: "12.3%  [.] name"; `--sort dso,symbol`: "12.3%  libfoo.so  [.] name".
        m = re.match(r"\s*([0-9.]+)%\s+(?:(.+?)\s+)?(\[.\])\s+(.*)", line)
        if not m:
            continue
        share, library, kind, symbol = float(m.group(1)), m.group(2) or "", m.group(3), m.group(4)
        text = f"{library} {kind} {symbol}".strip()
        for name, pattern in GROUPS:
            if re.search(pattern, text):
                shares[name] += share
                break
        else:
            other += share
    cells = " | ".join(f"{shares[name]:.0f}%" for name, _ in GROUPS)
    print(f"| {shape} | {cores} | {cells} | {other:.0f}% |", flush=True)


if __name__ == "__main__":
    main()
