// Data-parallel training across processes (issue 4): a small communicator over MPI_COMM_WORLD.
//
// `mpirun -np N nanoprime train ...` starts N ranks; each one constructs a Communicator, which
// joins MPI only when an MPI launcher announced itself in the environment (OMPI_COMM_WORLD_SIZE,
// PMI_SIZE, PMIX_RANK). A plain `nanoprime train` never touches MPI and gets a size-1 communicator
// whose collectives are no-ops, as does every build without MPI (CMake did not find it), which
// instead refuses a launch with more than one rank. Only the thread that constructed the
// communicator calls MPI (MPI_THREAD_FUNNELED); OpenMP workers never do.
#pragma once
#include <cstdint>
#include <span>
#include <string>

namespace np {

// True when this build links an MPI library.
bool mpi_available();
// "Open MPI v4.1.4, ..." when built with MPI, else "".
std::string mpi_library_version();
// The world size an MPI launcher announced in the environment; 0 when there is none.
int launcher_world_size();

class Communicator {
public:
    // join_launcher: join the MPI world when an MPI launcher started this process; false always
    // gives a size-1 communicator. Throws np::Error when launched with more than one rank by a
    // build without MPI, or when MPI was already finalised in this process.
    explicit Communicator(bool join_launcher = true);
    ~Communicator();  // MPI_Finalize when this object initialised MPI
    Communicator(const Communicator&) = delete;
    Communicator& operator=(const Communicator&) = delete;

    int rank() const { return rank_; }
    int size() const { return size_; }
    bool root() const { return rank_ == 0; }
    int local_size() const { return local_size_; }  // ranks on this machine

    // In place: every rank ends with the element-wise sum over all ranks (the same bits on every
    // rank). Any length (split into chunks below MPI's int count).
    void allreduce_sum(std::span<float> v) const;
    void allreduce_sum(std::span<double> v) const;
    void allreduce_sum(std::span<int64_t> v) const;
    // In place: every rank ends with root's values.
    void broadcast(std::span<float> v, int root = 0) const;
    void broadcast(std::span<double> v, int root = 0) const;
    void broadcast(std::span<uint64_t> v, int root = 0) const;
    void barrier() const;
    // True on every rank when `local` is true on at least one (e.g. a signal that reached one).
    bool any(bool local) const {
        if (size_ == 1) return local;
        int64_t v = local ? 1 : 0;
        allreduce_sum(std::span(&v, 1));
        return v > 0;
    }
    // Ends every rank at once (MPI_Abort); with one rank, exits the process with `code`. For an
    // error on one rank, which would otherwise leave the others waiting in a collective forever.
    [[noreturn]] void abort(int code) const;

    // Throws np::Error on every rank unless all ranks hold the same bits in v (a hash of v is
    // compared with root's); `what` names v in the message.
    void check_identical(std::span<const float> v, const std::string& what) const;

private:
    int rank_ = 0, size_ = 1, local_size_ = 1;
    bool mpi_ = false;        // collectives go through MPI
    bool owns_init_ = false;  // this object called MPI_Init_thread
};

}  // namespace np
