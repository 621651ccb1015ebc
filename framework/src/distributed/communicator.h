// The c10d process group of a data-parallel job: rendezvous through a
// TCPStore that rank 0 hosts, collectives over Gloo (CPU tensors), and a
// heartbeat per rank so that a failed collective names the rank that died or
// hung. The c10d and Gloo headers stay in communicator.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "world.h"

namespace cerebra::detail {

class Communicator {
 public:
  // Joins the job: rank 0 listens on MASTER_ADDR:MASTER_PORT, every rank
  // waits up to the timeout for the others. Error naming the cause (port in
  // use, rank 0 unreachable, ranks that never came).
  explicit Communicator(const WorldSpec& world);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  const WorldSpec& world() const;
  int rank() const { return world().rank; }
  int size() const { return world().world; }

  // Sums each tensor over the ranks, in place. All are sent before the first
  // is waited for, so Gloo works on one while the next is queued. `what`
  // names the operation in an error ("gradients of step 12").
  void all_reduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what);
  // Rank 0's values into every rank's tensors, in place.
  void broadcast(std::vector<torch::Tensor>& tensors, const std::string& what);
  // Every rank's `tensor` (the same shape on each), in rank order.
  std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor, const std::string& what);

  // Small files and texts through the store: rank 0 sets, the others wait
  // up to the timeout for the key.
  void set(const std::string& key, const std::string& value);
  std::string get(const std::string& key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cerebra::detail
