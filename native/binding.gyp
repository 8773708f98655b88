{
  "variables": {
    "cuda_home%": "<!(node -p \"process.env.CUDA_HOME || '/usr/local/cuda'\")"
  },
  "targets": [
    {
      "target_name": "tfjs_gna_native",
      "sources": [
        "src/addon.cc",
        "src/token_permute.cu",
        "src/gna_simt.cu",
        "src/gna_tc.cu",
        "src/gna_tc_bf16.cu",
        "src/gna_tc_f16.cu",
        "src/gna_tc_tf32.cu",
        "src/gna_tc_bwd.cu",
        "src/gna_tc_bwd_bf16.cu",
        "src/gna_wgmma.cu",
        "src/gna_wgmma_masks.cu",
        "src/ops_api.cc",
        "src/elementwise.cu",
        "src/copy.cu",
        "src/reduce.cu",
        "src/matmul.cu"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(cuda_home)/include"
      ],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "libraries": ["-L<(cuda_home)/lib64", "-lcudart_static", "-ldl", "-lrt", "-lpthread"],
      "rules": [
        {
          "rule_name": "nvcc",
          "extension": "cu",
          "inputs": ["<(RULE_INPUT_PATH)", "src/gna_native.h", "src/cuda_util.h", "src/gna_tc.cuh", "src/gna_tc_bwd.cuh",
                     "src/gna_wgmma.h", "src/ops.h", "src/op_shape.cuh"],
          "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o"],
          "process_outputs_as_sources": 1,
          "message": "nvcc <(RULE_INPUT_PATH)",
          "action": [
            "<(cuda_home)/bin/nvcc", "-std=c++17", "-O3", "-Xcompiler", "-fPIC",
            "-gencode=arch=compute_80,code=sm_80",
            "-gencode=arch=compute_90a,code=sm_90a",
            "-gencode=arch=compute_100a,code=sm_100a",
            "-gencode=arch=compute_80,code=compute_80",
            "-c", "<(RULE_INPUT_PATH)", "-o", "<@(_outputs)"
          ]
        }
      ]
    }
  ]
}
