#include "train/distributed.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>
#ifdef NP_HAVE_MPI
// Only the C API is used: skip the deprecated C++ bindings (and their warnings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

#include "core/error.h"

namespace np {

namespace {

// The first of the launchers' variables that is set, as an integer; -1 when none is.
int env_int(std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (const char* v = std::getenv(n); v && *v) return std::atoi(v);
    return -1;
}

bool launched_by_mpi() {
    return env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"}) >= 0;
}

// MPI counts are int: long buffers go in pieces.
constexpr size_t kChunk = size_t(1) << 30;

#ifdef NP_HAVE_MPI
template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
    return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
    return MPI_DOUBLE;
}
template <>
MPI_Datatype mpi_type<int64_t>() {
    return MPI_INT64_T;
}
template <>
MPI_Datatype mpi_type<uint64_t>() {
    return MPI_UINT64_T;
}

void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fail(std::string("MPI: ") + what + " failed: " + std::string(msg, size_t(len)));
}
#endif

template <class T>
void allreduce(bool mpi, std::span<T> v) {
#ifdef NP_HAVE_MPI
    if (!mpi) return;
    for (size_t off = 0; off < v.size(); off += kChunk) {
        const int n = int(std::min(kChunk, v.size() - off));
        check(
            MPI_Allreduce(MPI_IN_PLACE, v.data() + off, n, mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
    }
#else
    (void)mpi, (void)v;
#endif
}

template <class T>
void bcast(bool mpi, std::span<T> v, int root) {
#ifdef NP_HAVE_MPI
    if (!mpi) return;
    for (size_t off = 0; off < v.size(); off += kChunk) {
        const int n = int(std::min(kChunk, v.size() - off));
        check(MPI_Bcast(v.data() + off, n, mpi_type<T>(), root, MPI_COMM_WORLD), "MPI_Bcast");
    }
#else
    (void)mpi, (void)v, (void)root;
#endif
}

}  // namespace

bool mpi_available() {
#ifdef NP_HAVE_MPI
    return true;
#else
    return false;
#endif
}

std::string mpi_library_version() {
#ifdef NP_HAVE_MPI
    // One of the few MPI calls allowed before MPI_Init.
    char buf[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(buf, &len) != MPI_SUCCESS) return "MPI";
    std::string s(buf, size_t(len));
    const size_t cut = s.find_first_of(",\n");
    return cut == std::string::npos ? s : s.substr(0, cut);
#else
    return "";
#endif
}

int launcher_world_size() {
    return std::max(0, env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}));
}

Communicator::Communicator(bool join_launcher) {
    if (!join_launcher || !launched_by_mpi()) return;
#ifdef NP_HAVE_MPI
    int finalized = 0, initialized = 0;
    MPI_Finalized(&finalized);
    if (finalized) fail("MPI: already finalised in this process; it cannot be joined again");
    MPI_Initialized(&initialized);
    if (!initialized) {
        // A rank that finished its micro-batches waits in MPI_Allreduce for the slowest; Open MPI
        // busy-polls there unless told to yield, stealing a core from the ranks still computing
        // (3x slower steps measured with 2 ranks on a busy 2-core machine). Training exchanges
        // little between long computations, so the yield's latency is irrelevant.
        if (std::getenv("OMPI_COMM_WORLD_SIZE") && !std::getenv("OMPI_MCA_mpi_yield_when_idle"))
            ::setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
        int provided = 0;
        check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        owns_init_ = true;
    }
    mpi_ = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm node;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    MPI_Comm_size(node, &local_size_);
    MPI_Comm_free(&node);
#else
    const int world = launcher_world_size();
    const int rank = env_int({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"});
    if (world > 1 || rank > 0)
        fail("launched by mpirun with " +
             (world > 0 ? std::to_string(world) : std::string("several")) +
             " ranks, but this nanoprime was built without MPI: install libopenmpi-dev "
             "(scripts/setup.sh) and rebuild, or run a single process");
#endif
}

Communicator::~Communicator() {
#ifdef NP_HAVE_MPI
    if (owns_init_) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
    }
#endif
}

void Communicator::allreduce_sum(std::span<float> v) const {
    allreduce(mpi_, v);
}
void Communicator::allreduce_sum(std::span<double> v) const {
    allreduce(mpi_, v);
}
void Communicator::allreduce_sum(std::span<int64_t> v) const {
    allreduce(mpi_, v);
}
void Communicator::broadcast(std::span<float> v, int root) const {
    bcast(mpi_, v, root);
}
void Communicator::broadcast(std::span<double> v, int root) const {
    bcast(mpi_, v, root);
}
void Communicator::broadcast(std::span<uint64_t> v, int root) const {
    bcast(mpi_, v, root);
}

void Communicator::barrier() const {
#ifdef NP_HAVE_MPI
    if (mpi_) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void Communicator::abort(int code) const {
    std::fflush(stdout);
    std::fflush(stderr);
#ifdef NP_HAVE_MPI
    if (mpi_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    std::exit(code);
}

void Communicator::check_identical(std::span<const float> v, const std::string& what) const {
    if (size_ == 1) return;
    uint64_t h = 0xcbf29ce484222325ull;
    for (float x : v) h = (h ^ std::bit_cast<uint32_t>(x)) * 0x100000001b3ull;
    uint64_t root_h = h;
    broadcast(std::span(&root_h, 1));
    int64_t differ = h != root_h;
    allreduce_sum(std::span(&differ, 1));
    if (differ > 0)
        fail("data parallel: " + what + " differ between ranks (" + std::to_string(differ) +
             " of " + std::to_string(size_) +
             " ranks disagree with rank 0): the ranks no longer train the same model");
}

}  // namespace np
