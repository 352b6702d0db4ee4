"""Benchmark: a CTranslate2 export's beam decoding speed and BLEU, beside t2t-decoder's.

  python benchmarks/ctranslate2_speed.py --model_dir=$RUN/ct2 --spm=$D/vocab....model \
      --input=test.en --reference=test.de [--beam_size=4] [--batch_size=64] [--threads=2] \
      [--inter_threads=1]

Translates --input with ctranslate2 (the export of t2t-exporter --export_format=ctranslate2),
SentencePiece pieces in and out, after one warm-up batch (--inter_threads batches at
once, each on --threads threads: CTranslate2's inter_threads and intra_threads); prints
sentences/s, and sacreBLEU with the length ratio against --reference. The search is
CTranslate2's (its length penalty is not T2T's alpha, see docs/serving.md), so the
sentences are close to, not equal to, t2t-decoder's. Figures: docs/benchmarks.md
("Serving", "Beam decoding on an AVX2 CPU: a batch per core").
"""
import argparse
import time

import ctranslate2
import sacrebleu
import sentencepiece as spm


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--spm", required=True, help="the problem's SentencePiece model")
    parser.add_argument("--input", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--beam_size", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--inter_threads", type=int, default=1)
    parser.add_argument("--max_decoding_length", type=int, default=256)
    args = parser.parse_args()
    sp = spm.SentencePieceProcessor(model_file=args.spm)
    with open(args.input, encoding="utf-8") as f:
        sources = [sp.encode(line.strip(), out_type=str) for line in f.read().splitlines()]
    with open(args.reference, encoding="utf-8") as f:
        references = f.read().splitlines()
    translator = ctranslate2.Translator(args.model_dir, device="cpu",
                                        inter_threads=args.inter_threads,
                                        intra_threads=args.threads)
    options = dict(beam_size=args.beam_size, max_batch_size=args.batch_size,
                   max_decoding_length=args.max_decoding_length)
    translator.translate_batch(sources[:args.batch_size], **options)   # warm-up
    began = time.monotonic()
    results = translator.translate_batch(sources, **options)
    seconds = time.monotonic() - began
    hypotheses = [sp.decode(r.hypotheses[0]) for r in results]
    bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    print(f"{args.model_dir}: {len(sources) / seconds:.1f} sentences/s "
          f"({len(sources)} in {seconds:.1f} s, beam {args.beam_size}, batch "
          f"{args.batch_size}, {args.inter_threads} x {args.threads} threads); "
          f"BLEU {bleu.score:.2f}, length ratio {bleu.sys_len / bleu.ref_len:.3f}")


if __name__ == "__main__":
    main()
