// Splits and the image loader. No torch here: batches are plain float buffers
// (NCHW), which the trainer wraps as tensors without copying.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cerebra/dataset.h"
#include "cerebra/parameters.h"
#include "cerebra/transform.h"

namespace cerebra {

struct SplitResult {
  std::vector<Sample> train, val, test;
  std::string group_by = "exact";    // how duplicates were grouped: exact, near or none
  std::map<std::string, std::size_t> group_of;  // sample id -> group number (groups ordered by first id)
  std::size_t duplicate_groups = 0;  // groups of two or more files kept together
  std::size_t duplicate_files = 0;   // files in those groups
  // Groups whose identical files carry different labels; each such group follows
  // the label of its first file (by id) for stratification.
  std::size_t conflicting_groups = 0;
  // Samples removed before splitting because another dataset holds them
  // ([split] exclude_overlap_with); the split functions leave it 0.
  std::size_t excluded_overlap = 0;
  // [extra_training]: images of another dataset added to train only, with
  // coarse labels. A label k + j (k = the class count) means "one of the
  // classes label_sets[j]"; a coarse label naming one class is that class.
  // Such samples carry Sample::subset "extra" (the loading dataset tells
  // them apart by it); excluded_extra counts those left out as copies.
  std::vector<std::vector<int>> label_sets;
  std::size_t extra_training = 0, excluded_extra = 0;
  std::string extra_dataset;
  // [split] hold_out: "none", or "source" (each class's test and val come
  // from source clusters its training images do not contain; docs/data.md).
  std::string hold_out = "none";
  // hold_out = "source" only: how many source clusters were found, each
  // sample's cluster (sample id -> 0..k-1, -1 unreadable), and for each split,
  // class name and cluster the files there.
  int source_clusters = 0;
  std::map<std::string, int> source_of;
  std::map<std::string, std::map<std::string, std::map<int, std::size_t>>> sources_in;
};

// One line saying which clusters of each class a source-held-out split put
// in test and in val ("" for any other split): for the run log and the audit.
std::string describe_hold_out(const SplitResult& split);

// Stratified, duplicate-aware split. `split` is the pipeline's [split] section
// (train/val/test fractions, or folds/fold). Samples whose dataset fixes their
// subset (Sample::subset == "test") go there whatever the fractions say; the
// other samples are then divided between train and val in the ratio
// train:val, so a fixed test set is never topped up from the training data.
// With folds = k > 0 the non-test groups are dealt into k class-balanced folds;
// fold `fold` is val and the others train.
// With hold_out = "source" (in `split`; with source_clusters = k, 0 for k by
// silhouette) the images are clustered by acquisition traits (audit.h,
// cluster_sources) and each class's least typical clusters go whole to test,
// then val; the fractions are met roughly, and an Error names a class that
// lies in one cluster. Not with folds.
// Duplicates always share a split: `group_by` (in `split`; "exact" when
// absent, while pipelines default to "near") joins byte-identical files (same
// Dataset::fingerprint) and, with "near", near copies too (audit.h; their
// traits cached in `cache_dir`); "none" groups nothing. A group holding a
// fixed test sample goes to test whole.
// The same seed gives the same split on any machine (own PRNG, samples
// ordered by id first). Each output list is sorted by id.
SplitResult split_samples(const Dataset& dataset, const std::vector<Sample>& samples,
                          const Parameters& split, std::uint64_t seed,
                          const std::string& cache_dir = ".cache/cerebra");

struct Pipeline;

// The split a run of `pipeline` makes, and the dataset it comes from: the
// dataset's labelled samples, less those [split] exclude_overlap_with names
// (SplitResult::excluded_overlap), split by [split] with split_seed() and
// the [loader] cache_dir. Throws Error for a dataset of fewer than two
// classes or without labelled images.
struct PipelineSplit {
  std::shared_ptr<const Dataset> dataset;
  SplitResult split;
};
PipelineSplit split_pipeline(const Pipeline& pipeline, const Registry& registry);

// The seed the split uses: [split] seed, or [run] seed where that is -1.
std::uint64_t split_seed(const Pipeline& pipeline);

// Writes "file,class,split,group" rows (and "source", the cluster, after a
// source-held-out split) (CSV, quoted as needed), atomically; the run
// directory's split.csv (implemented with the other run files, run_directory.cpp).
void write_split_manifest(const std::string& path, const SplitResult& split,
                          const std::vector<std::string>& class_names);

struct Batch {
  std::vector<float> images;          // n * channels * height * width, NCHW, RGB order
  std::vector<std::int64_t> labels;   // n
  std::vector<std::size_t> indices;   // n, positions in the loader's sample list
  std::int64_t n = 0, channels = 0, height = 0, width = 0;
  // Images in the whole batch this one is a rank's shard of (LoaderOptions
  // shard_count); n when unsharded. Data-parallel training weighs each
  // rank's gradient by n / global_n, so a short last batch averages right.
  std::int64_t global_n = 0;
  // Where this shard's first image sits in that whole batch (0 unsharded):
  // per-image random draws (BatchDropout) follow the image, not the rank.
  std::int64_t global_offset = 0;
};

struct SkippedFile {
  std::string id;
  std::string reason;
};

// One transform of a pipeline together with what identifies it: the registry
// name and the resolved parameters (every default filled in). The disk cache
// keys on these, so a changed stage never serves a stale image.
struct Stage {
  std::string name;
  Parameters parameters;
  std::shared_ptr<const Transform> transform;
};

// Creates the transform `name` from the registry; `parameters` may omit
// defaults, which the stage records filled in.
Stage make_stage(const Registry& registry, const std::string& name, const Parameters& parameters);

// What threads = 0 resolves to on this machine.
int default_loader_threads();

struct LoaderOptions {
  std::size_t batch_size = 32;
  bool shuffle = false;
  bool drop_last = false;
  bool weighted_sampler = false;  // draw classes in equal proportion (training only)
  std::uint64_t seed = 42;
  int threads = 0;                // 0: choose for the machine
  std::string cache = "memory";   // none, memory, disk (disk also keeps the memory cache)
  std::string cache_dir = ".cache/cerebra";
  bool skip_bad_files = false;    // false: the first bad file stops with an Error naming it
  int prefetch = 2;
  int channels = 3;               // images are converted to this many channels
  // Decode JPEGs at a reduced scale when the first preprocess stage shrinks
  // them anyway (Transform::accepts_reduced_input, Dataset LoadHint).
  bool reduced_decode = true;
  // Which augmented view this loader produces: loaders that differ only in
  // `view` give batches of the same images in the same order, each augmented
  // with its own random numbers (two views for a contrastive objective).
  std::uint64_t view = 0;
  // Apply a pipeline's last stage while writing the batch when it is a
  // channel map (normalize; Transform::is_channel_map): the same values,
  // less memory traffic, and the cache keeps the stage's 8-bit input.
  bool fold_channel_map = true;
  // Data-parallel sharding: this loader yields rank `shard_rank`'s part of
  // each batch of shard_count * batch_size images of the unsharded order
  // (the same seeded order on every rank, so the union over ranks is the
  // single-process epoch; augmentation is seeded by the global position).
  // Unreadable files must be known before the epoch (check_all): a sharded
  // loader that meets a new one throws instead of replacing it.
  std::size_t shard_rank = 0, shard_count = 1;
  // Training: a last batch of fewer images than ranks is dropped, so every
  // rank takes every step (evaluation keeps it; a rank may get no image).
  bool every_shard_nonempty = false;
};

class ImageLoader {
 public:
  // `augment` runs only when non-empty (training); `preprocess` is cached.
  ImageLoader(std::shared_ptr<const Dataset> dataset, std::vector<Sample> samples,
              std::vector<Stage> preprocess, std::vector<Stage> augment, LoaderOptions options);
  // Bare transforms carry no name or parameters, so nothing identifies them in
  // a disk cache key: with cache = "disk" this constructor throws an Error
  // asking for Stages (make_stage).
  ImageLoader(std::shared_ptr<const Dataset> dataset, std::vector<Sample> samples,
              std::vector<std::shared_ptr<const Transform>> preprocess,
              std::vector<std::shared_ptr<const Transform>> augment, LoaderOptions options);
  ~ImageLoader();

  std::size_t size() const;
  std::size_t batches_per_epoch() const;
  const std::vector<Sample>& samples() const;

  // Begins an epoch: order and random augmentation depend only on the seed
  // and the epoch number, whatever the thread count.
  void start_epoch(int epoch);
  // Fills `batch`; false when the epoch is over. The memory of the batch passed
  // in is reused, so copy out what must outlive the next call.
  bool next(Batch& batch);

  // Decodes and preprocesses every sample now (into the memory cache, so the
  // first epoch costs no more), so that a bad file is found before training
  // and not when its batch comes. A bad file throws the Error next() would
  // throw for it (the first in sample order), or with skip_bad_files is
  // recorded in skipped(). Returns how many samples are usable.
  std::size_t check_all();
  // Files skipped so far (skip_bad_files), each once, in the order found.
  std::vector<SkippedFile> skipped() const;
  // Decoding threads in use (threads = 0 resolved).
  int threads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cerebra
