/* Host program of test/attnc/aot-gpu.test: links libsw.so (sliding_window,
 * --target gpu, bf16 and f16) and libdoc.so (document, --target all, f32 and
 * bf16) with libattnrt, prints what the embedded descriptions say and what
 * the GPU entry points answer, and runs the CPU entry point of libdoc.so. */
#include "doc.h"
#include "sw.h"

#include <stdio.h>
#include <string.h>

static void describe(const attn_gpu_binary *b) {
  const attn_variant_info *i = b->info;
  printf("%s: kernel %s, dtype %d, %d params, %d tensors, lse %d, row tile %lld, "
         "%s image\n",
         i->name, b->kernel, (int)i->input_dtype, i->num_params, i->num_tensors, i->has_lse,
         (long long)i->row_tile,
         b->size > 4 && memcmp(b->image, "\x7f" "ELF", 4) == 0 ? "ELF" : "bad");
  for (int p = 0; p < i->num_params; ++p)
    printf("  param %s type %d default %d %g\n", i->params[p].name, (int)i->params[p].type,
           i->params[p].has_default, i->params[p].default_value);
  for (int t = 0; t < i->num_tensors; ++t)
    printf("  tensor %s dtype %d rank %d dims %lld %lld\n", i->tensors[t].name,
           (int)i->tensors[t].dtype, i->tensors[t].rank, (long long)i->tensors[t].dims[0],
           (long long)i->tensors[t].dims[1]);
}

static void report(const char *what, attn_status s) {
  printf("%s: %s: %s\n", what, attn_status_string(s), s == ATTN_OK ? "" : attn_last_error());
}

int main(void) {
  describe(attn_sliding_window_gpu_binary(ATTN_BF16));
  describe(attn_sliding_window_gpu_binary(ATTN_F16));
  describe(attn_document_gpu_binary(ATTN_BF16));
  printf("sliding_window f32 on the GPU: %s\n",
         attn_sliding_window_gpu_binary(ATTN_F32) ? "present" : "absent");

  enum { S = 4, D = 8 };
  float data[S * D] = {0};
  float out[S * D];
  int32_t ids[S] = {0, 0, 1, 1};
  attn_tensor q = {data, ATTN_F32, 4, {1, 1, S, D}, {S * D, S * D, D, 1}};
  attn_tensor o = {out, ATTN_F32, 4, {1, 1, S, D}, {S * D, S * D, D, 1}};
  attn_tensor doc = {ids, ATTN_I32, 2, {1, S}, {S, 1}};
  report("document f32 on the CPU", attn_document_f32(&q, &q, &q, &o, NULL, NULL, &doc, -1, 0));
  report("sliding_window f32 on the GPU",
         attn_sliding_window_gpu_run(&q, &q, &q, &o, NULL, NULL, NULL, -1, NULL));
  q.dtype = o.dtype = ATTN_BF16;
  report("sliding_window bf16 without o",
         attn_sliding_window_gpu_run(&q, &q, &q, NULL, NULL, NULL, NULL, -1, NULL));
  report("sliding_window bf16 on the GPU",
         attn_sliding_window_gpu_run(&q, &q, &q, &o, NULL, NULL, NULL, -1, NULL));
  report("document bf16 on the GPU",
         attn_document_gpu_run(&q, &q, &q, &o, NULL, NULL, &doc, -1, NULL));
  return 0;
}
