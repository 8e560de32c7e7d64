// C ABI around the Verilated mnist_top: AXI4-Lite transactions, the AXI DMA
// stream datapath (MM2S -> s_axis, m_axis -> S2MM, with MM2S's read-ahead FIFO
// and PG021's graceful soft reset; registers in sim/dma.py) and fault injection.
// Every clock edge runs here; Python only calls in once per transaction or run.
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>

#include "Vmnist_top.h"
#include "verilated.h"

namespace {

// Run stop reasons, mirrored by RunReason in verilator.py.
enum : int { RUN_QUIESCENT = 0, RUN_NO_PROGRESS = 1, RUN_CYCLE_CAP = 2 };
// Channel states, mirrored by ChannelState in verilator.py.
enum : int {
    CH_IDLE = 0,      // never started, halted or reset
    CH_BUSY = 1,
    CH_DONE = 2,      // MM2S: all bytes accepted by the stream; S2MM: TLAST received
    CH_OVERFLOW = 3,  // S2MM: stream longer than the buffer
    CH_SLVERR = 4,    // the memory answered SLVERR
    CH_DECERR = 5,    // the memory answered DECERR
};
// AXI responses (BRESP/RRESP encoding).
constexpr int RESP_SLVERR = 2;
constexpr int RESP_DECERR = 3;
// AXI4-Lite responses beyond the two-bit BRESP/RRESP: the slave never answered.
constexpr int RESP_TIMEOUT = -1;
// MM2S read-ahead: beats fetched from memory but not yet accepted by the
// stream (one burst of c_mm2s_burst_size = 16 beats). They are what remains
// in the stream when a transfer is halted or fails.
constexpr size_t MM2S_FIFO_BEATS = 16;
constexpr uint64_t NO_FAULT = ~0ull;

struct Beat {
    uint32_t data = 0;
    uint8_t keep = 0;
    bool last = false;
};

struct Mm2s {
    const uint8_t* src = nullptr;
    uint64_t len = 0;
    uint64_t fetched = 0;  // bytes read from memory into the FIFO
    uint64_t pos = 0;      // bytes of this transfer accepted by the stream
    int state = CH_IDLE;
    std::deque<Beat> fifo;    // survives halts and errors: the residual beats
    uint64_t stale = 0;       // bytes of earlier transfers still ahead in the FIFO
    bool offered = false;     // fifo.front() is on TVALID and must stay until accepted
    bool mid_packet = false;  // beats went out since the last TLAST
};

struct S2mm {
    uint8_t* dst = nullptr;
    uint64_t cap = 0;
    uint64_t pos = 0;  // bytes written to dst
    int state = CH_IDLE;
};

// PG021 soft reset in progress (DMACR.Reset reads 1 until it is over).
struct DmaReset {
    bool active = false;
    uint64_t countdown = 0;     // cycles the reset logic itself takes
    uint64_t quiet_cycles = 0;  // the flush ends after this many cycles without a beat
    uint64_t last_beat = 0;     // on either stream
};

struct Faults {
    bool drop_tlast = false;
    bool stall_m_axis = false;
    uint32_t idle_permille = 0;
    uint32_t backpressure_permille = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int corrupt_bit = -1;
    uint32_t corrupt_lo = 0;
    uint32_t corrupt_hi = 0;
    // one-shot memory errors at a byte offset of the next transfer
    uint64_t mm2s_error_at = NO_FAULT;
    int mm2s_error_resp = 0;
    uint64_t s2mm_error_at = NO_FAULT;
    int s2mm_error_resp = 0;
    uint64_t s2mm_short_at = NO_FAULT;  // S2MM takes the beat ending at this byte as TLAST
    uint64_t slow_reset_cycles = 0;     // added to the next soft reset
};

// Beats in and words out since the last output TLAST: while fewer results
// than completely received images have come out, the engine has work pending.
struct Flow {
    uint64_t beats_per_image = 1;
    uint64_t words_per_image = 0;
    uint64_t in_beats = 0;
    uint64_t out_words = 0;
    bool pending() const { return out_words < words_per_image * (in_beats / beats_per_image); }
};

// AXI protocol rules the RTL broke, counted by the bus models.
struct Violations {
    uint64_t lite = 0;  // RVALID/BVALID before (or in the cycle of) the address handshake
    uint64_t axis = 0;  // m_axis TVALID dropped or TDATA/TLAST changed while stalled
};

// m_axis beat offered but not taken in the previous cycle: must be held.
struct HeldBeat {
    bool held = false;
    uint32_t data = 0;
    bool last = false;
};

struct Sim {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vmnist_top> top;
    uint64_t cycles = 0;
    uint64_t last_beat_cycle = 0;
    Flow flow;
    Violations violations;
    HeldBeat m_held;
    Mm2s mm2s;
    S2mm s2mm;
    DmaReset reset;
    Faults faults;
};

uint32_t next_random(Faults& f) {
    // xorshift64*: cheap, seeded, reproducible across compilers
    f.rng ^= f.rng >> 12;
    f.rng ^= f.rng << 25;
    f.rng ^= f.rng >> 27;
    return static_cast<uint32_t>((f.rng * 0x2545F4914F6CDD1Dull) >> 32);
}

bool chance(Faults& f, uint32_t permille) {
    return permille != 0 && next_random(f) % 1000 < permille;
}

// MM2S memory side: read one beat per cycle into the FIFO while it has room.
// An injected error response stops the transfer there; what was fetched
// before it stays in the FIFO (PG021: the channel halts gracefully).
void fetch_mm2s_beat(Sim& s) {
    Mm2s& m = s.mm2s;
    Faults& f = s.faults;
    if (m.state != CH_BUSY || m.fetched >= m.len || m.fifo.size() >= MM2S_FIFO_BEATS) return;
    if (m.fetched >= f.mm2s_error_at) {
        m.state = f.mm2s_error_resp == RESP_DECERR ? CH_DECERR : CH_SLVERR;
        f.mm2s_error_at = NO_FAULT;
        return;
    }
    uint64_t left = m.len - m.fetched;
    uint32_t n = left < 4 ? static_cast<uint32_t>(left) : 4u;
    Beat beat;
    std::memcpy(&beat.data, m.src + m.fetched, n);  // little-endian host: byte k -> bits 8k+7:8k
    beat.keep = static_cast<uint8_t>((1u << n) - 1u);
    m.fetched += n;
    beat.last = m.fetched == m.len && !f.drop_tlast;
    m.fifo.push_back(beat);
}

// MM2S stream side: offer the FIFO head (random bubbles only between beats).
void offer_mm2s_beat(Sim& s) {
    Mm2s& m = s.mm2s;
    if (m.offered || m.fifo.empty()) return;
    if (chance(s.faults, s.faults.idle_permille)) return;
    m.offered = true;
}

void accept_mm2s_beat(Sim& s) {
    Mm2s& m = s.mm2s;
    Beat beat = m.fifo.front();
    m.fifo.pop_front();
    m.offered = false;
    m.mid_packet = !beat.last;
    uint32_t n = 0;
    while (n < 4 && (beat.keep >> n) & 1u) ++n;
    if (m.stale >= n) {
        m.stale -= n;
    } else {
        m.pos += n - m.stale;
        m.stale = 0;
    }
    if (m.state == CH_BUSY && m.pos >= m.len) m.state = CH_DONE;
}

// S2MM: store one accepted m_axis beat, or drop it while a soft reset flushes.
void accept_s2mm_beat(Sim& s, uint32_t data, uint8_t keep, bool last) {
    if (s.reset.active) return;  // flushed
    S2mm& r = s.s2mm;
    Faults& f = s.faults;
    uint32_t n = 0;
    while (n < 4 && (keep >> n) & 1u) ++n;
    if (r.pos + n > f.s2mm_error_at) {
        r.state = f.s2mm_error_resp == RESP_DECERR ? CH_DECERR : CH_SLVERR;
        f.s2mm_error_at = NO_FAULT;
        return;
    }
    if (r.pos + n > r.cap) {
        r.state = CH_OVERFLOW;  // PG021: packet longer than S2MM_LENGTH
        return;
    }
    std::memcpy(r.dst + r.pos, &data, n);
    r.pos += n;
    if (r.pos >= f.s2mm_short_at) {
        last = true;
        f.s2mm_short_at = NO_FAULT;
    }
    if (last) r.state = CH_DONE;
}

// PG021 soft reset, one cycle: the MM2S packet is being ended (its FIFO goes
// out, the last beat carrying TLAST), S2MM drops what arrives, and the reset
// is over once MM2S is empty, the reset logic has run its cycles and neither
// stream has moved for quiet_cycles (what the last beats set off is flushed).
void step_dma_reset(Sim& s) {
    DmaReset& r = s.reset;
    if (!r.active) return;
    if (r.countdown > 0) {
        --r.countdown;
        s.last_beat_cycle = s.cycles;  // the reset itself is progress
    }
    if (r.countdown == 0 && s.mm2s.fifo.empty() &&
        s.cycles - r.last_beat >= r.quiet_cycles) {
        r.active = false;
        s.mm2s = Mm2s{};
        s.s2mm = S2mm{};
        s.flow.in_beats = s.flow.out_words = 0;
    }
}

// One clock cycle: drive inputs, settle, sample handshakes, rising edge, update.
void step(Sim& s) {
    Vmnist_top& t = *s.top;
    fetch_mm2s_beat(s);
    offer_mm2s_beat(s);
    Mm2s& m = s.mm2s;
    const Beat head = m.offered ? m.fifo.front() : Beat{};
    t.s_axis_tvalid = m.offered;
    t.s_axis_tdata = head.data;
    t.s_axis_tkeep = head.keep;
    t.s_axis_tlast = head.last;
    bool out_ready = s.reset.active ||
                     (s.s2mm.state == CH_BUSY && !s.faults.stall_m_axis &&
                      !chance(s.faults, s.faults.backpressure_permille));
    t.m_axis_tready = out_ready;
    t.aclk = 0;
    t.eval();

    bool in_fire = m.offered && t.s_axis_tready;
    bool out_fire = out_ready && t.m_axis_tvalid;
    uint32_t out_data = t.m_axis_tdata;
    uint8_t out_keep = t.m_axis_tkeep;
    bool out_last = t.m_axis_tlast;
    if (s.m_held.held && t.aresetn &&
        (!t.m_axis_tvalid || out_data != s.m_held.data || out_last != s.m_held.last)) {
        ++s.violations.axis;
    }
    s.m_held = HeldBeat{t.m_axis_tvalid && !out_ready, out_data, out_last};

    t.aclk = 1;
    t.eval();
    ++s.cycles;

    if ((in_fire || out_fire) && s.reset.active) s.reset.last_beat = s.cycles;
    if (in_fire) {
        accept_mm2s_beat(s);
        ++s.flow.in_beats;
        s.last_beat_cycle = s.cycles;
    }
    if (out_fire) {
        accept_s2mm_beat(s, out_data, out_keep, out_last);
        ++s.flow.out_words;
        if (out_last) s.flow.in_beats = s.flow.out_words = 0;
        s.last_beat_cycle = s.cycles;
    }
    step_dma_reset(s);
}

// Verilator escapes the port name `interrupt` (a reserved word for some
// compilers) as __SYM__interrupt; accept either spelling.
template <typename T>
auto interrupt_of(T& t, int) -> decltype(t.__SYM__interrupt, int()) {
    return t.__SYM__interrupt;
}
template <typename T>
auto interrupt_of(T& t, long) -> decltype(t.interrupt, int()) {
    return t.interrupt;
}

bool streams_quiescent(const Sim& s) {
    return !s.reset.active && s.mm2s.state != CH_BUSY && s.s2mm.state != CH_BUSY;
}

void drive_lite_idle(Vmnist_top& t) {
    t.s_axi_ctrl_awvalid = 0;
    t.s_axi_ctrl_wvalid = 0;
    t.s_axi_ctrl_bready = 0;
    t.s_axi_ctrl_arvalid = 0;
    t.s_axi_ctrl_rready = 0;
}

// The AXI4-Lite master keeps the streams running while it waits, as the real
// interconnect would; the handshake is sampled before each rising edge.
int lite_write(Sim& s, uint32_t addr, uint32_t data, uint32_t strb, uint32_t timeout) {
    Vmnist_top& t = *s.top;
    Faults& f = s.faults;
    if (f.corrupt_bit >= 0 && addr >= f.corrupt_lo && addr < f.corrupt_hi) {
        data ^= 1u << f.corrupt_bit;
        f.corrupt_bit = -1;
    }
    bool aw_done = false, w_done = false;
    t.s_axi_ctrl_awaddr = addr;
    t.s_axi_ctrl_awprot = 0;
    t.s_axi_ctrl_wdata = data;
    t.s_axi_ctrl_wstrb = strb;
    t.s_axi_ctrl_bready = 1;
    for (uint32_t i = 0; i < timeout; ++i) {
        t.s_axi_ctrl_awvalid = !aw_done;
        t.s_axi_ctrl_wvalid = !w_done;
        t.aclk = 0;
        t.eval();
        bool aw_fire = !aw_done && t.s_axi_ctrl_awready;
        bool w_fire = !w_done && t.s_axi_ctrl_wready;
        if (t.s_axi_ctrl_bvalid && !(aw_done && w_done)) ++s.violations.lite;
        bool b_fire = (aw_done || aw_fire) && (w_done || w_fire) && t.s_axi_ctrl_bvalid;
        int resp = t.s_axi_ctrl_bresp;
        step(s);
        aw_done = aw_done || aw_fire;
        w_done = w_done || w_fire;
        if (b_fire) {
            drive_lite_idle(t);
            return resp;
        }
    }
    drive_lite_idle(t);
    return RESP_TIMEOUT;
}

int lite_read(Sim& s, uint32_t addr, uint32_t* data, uint32_t timeout) {
    Vmnist_top& t = *s.top;
    bool ar_done = false;
    t.s_axi_ctrl_araddr = addr;
    t.s_axi_ctrl_arprot = 0;
    t.s_axi_ctrl_rready = 1;
    for (uint32_t i = 0; i < timeout; ++i) {
        t.s_axi_ctrl_arvalid = !ar_done;
        t.aclk = 0;
        t.eval();
        bool ar_fire = !ar_done && t.s_axi_ctrl_arready;
        // RVALID in the AR handshake cycle breaks AXI (A3.3.1): count it, but
        // take the data as a tolerant interconnect would.
        if (t.s_axi_ctrl_rvalid && !ar_done) ++s.violations.lite;
        bool r_fire = (ar_done || ar_fire) && t.s_axi_ctrl_rvalid;
        uint32_t rdata = t.s_axi_ctrl_rdata;
        int resp = t.s_axi_ctrl_rresp;
        step(s);
        ar_done = ar_done || ar_fire;
        if (r_fire) {
            drive_lite_idle(t);
            *data = rdata;
            return resp;
        }
    }
    drive_lite_idle(t);
    *data = 0;
    return RESP_TIMEOUT;
}

}  // namespace

extern "C" {

void* mnist_sim_create() {
    Sim* s = new Sim;
    s->ctx = std::make_unique<VerilatedContext>();
    s->ctx->randReset(0);
    s->top = std::make_unique<Vmnist_top>(s->ctx.get(), "mnist_top");
    drive_lite_idle(*s->top);
    s->top->aresetn = 0;
    s->top->aclk = 0;
    s->top->eval();
    return s;
}

void mnist_sim_destroy(void* h) {
    Sim* s = static_cast<Sim*>(h);
    if (s == nullptr) return;
    s->top->final();
    delete s;
}

// Hold aresetn low for `cycles` clocks; the DMA datapath is cleared too.
void mnist_sim_reset(void* h, uint32_t cycles) {
    Sim& s = *static_cast<Sim*>(h);
    s.mm2s = Mm2s{};
    s.s2mm = S2mm{};
    s.reset = DmaReset{};
    s.flow.in_beats = s.flow.out_words = 0;
    s.m_held = HeldBeat{};
    drive_lite_idle(*s.top);
    s.top->aresetn = 0;
    for (uint32_t i = 0; i < cycles; ++i) step(s);
    s.top->aresetn = 1;
    step(s);
}

int mnist_sim_write(void* h, uint32_t addr, uint32_t data, uint32_t strb, uint32_t timeout) {
    return lite_write(*static_cast<Sim*>(h), addr, data, strb, timeout);
}

int mnist_sim_read(void* h, uint32_t addr, uint32_t* data, uint32_t timeout) {
    return lite_read(*static_cast<Sim*>(h), addr, data, timeout);
}

// Write n words to consecutive addresses; returns the worst response seen
// (RESP_TIMEOUT stops at once), and the count of non-OKAY responses in *errors.
int mnist_sim_write_block(void* h, uint32_t addr, const uint32_t* words, uint32_t n,
                          uint32_t timeout, uint32_t* errors) {
    Sim& s = *static_cast<Sim*>(h);
    int worst = 0;
    *errors = 0;
    for (uint32_t i = 0; i < n; ++i) {
        int r = lite_write(s, addr + 4u * i, words[i], 0xFu, timeout);
        if (r == RESP_TIMEOUT) return r;
        if (r != 0) ++*errors;
        if (r > worst) worst = r;
    }
    return worst;
}

int mnist_sim_read_block(void* h, uint32_t addr, uint32_t* words, uint32_t n, uint32_t timeout,
                         uint32_t* errors) {
    Sim& s = *static_cast<Sim*>(h);
    int worst = 0;
    *errors = 0;
    for (uint32_t i = 0; i < n; ++i) {
        int r = lite_read(s, addr + 4u * i, &words[i], timeout);
        if (r == RESP_TIMEOUT) return r;
        if (r != 0) ++*errors;
        if (r > worst) worst = r;
    }
    return worst;
}

// MM2S: fetch `len` bytes from host memory onto s_axis, TLAST on the last
// beat. Beats left in the FIFO by an earlier transfer go out first.
void mnist_sim_mm2s_start(void* h, const void* src, uint64_t len) {
    Mm2s& m = static_cast<Sim*>(h)->mm2s;
    m.src = static_cast<const uint8_t*>(src);
    m.len = len;
    m.fetched = 0;
    m.pos = 0;
    m.stale = 0;
    for (const Beat& beat : m.fifo) m.stale += __builtin_popcount(beat.keep);
    m.state = len ? CH_BUSY : CH_DONE;
}

// S2MM: accept m_axis beats into host memory until TLAST; data past `cap` is an overflow.
void mnist_sim_s2mm_start(void* h, void* dst, uint64_t cap) {
    Sim& s = *static_cast<Sim*>(h);
    s.s2mm = S2mm{};
    s.s2mm.dst = static_cast<uint8_t*>(dst);
    s.s2mm.cap = cap;
    s.s2mm.state = CH_BUSY;
}

// RS = 0: MM2S fetches no more, but the beats already fetched stay in the
// stream; S2MM stops accepting (TREADY low).
void mnist_sim_mm2s_halt(void* h) {
    Mm2s& m = static_cast<Sim*>(h)->mm2s;
    m.state = CH_IDLE;
    m.src = nullptr;
}
void mnist_sim_s2mm_halt(void* h) { static_cast<Sim*>(h)->s2mm = S2mm{}; }

// Begin a soft reset: MM2S stops fetching and ends an open packet with TLAST
// (on its last FIFO beat, or on one extra zero beat); S2MM drops what arrives
// until the reset is over. An injected slow reset adds its cycles once.
void mnist_sim_dma_reset(void* h, uint64_t min_cycles, uint64_t quiet_cycles) {
    Sim& s = *static_cast<Sim*>(h);
    Mm2s& m = s.mm2s;
    m.state = CH_IDLE;
    m.src = nullptr;
    bool open = m.mid_packet || !m.fifo.empty();
    bool ended = !m.fifo.empty() && m.fifo.back().last;
    bool back_settable = !m.fifo.empty() && !(m.fifo.size() == 1 && m.offered);
    if (open && !ended) {
        if (back_settable) {
            m.fifo.back().last = true;
        } else {
            m.fifo.push_back(Beat{0, 0xF, true});  // an offered beat must not change
        }
    }
    s.s2mm = S2mm{};
    s.flow.in_beats = s.flow.out_words = 0;  // results owed now go to the flush
    s.faults.stall_m_axis = false;  // the stuck S2MM datapath is reset too
    s.reset.active = true;
    s.reset.countdown = min_cycles + s.faults.slow_reset_cycles;
    s.reset.quiet_cycles = quiet_cycles;
    s.reset.last_beat = s.cycles;
    s.faults.slow_reset_cycles = 0;
}

int mnist_sim_dma_resetting(void* h) { return static_cast<Sim*>(h)->reset.active ? 1 : 0; }

// Beats waiting in the MM2S FIFO (offered or not yet offered on s_axis).
uint64_t mnist_sim_mm2s_residual(void* h) { return static_cast<Sim*>(h)->mm2s.fifo.size(); }

int mnist_sim_mm2s_state(void* h, uint64_t* bytes) {
    Sim& s = *static_cast<Sim*>(h);
    *bytes = s.mm2s.pos;
    return s.mm2s.state;
}

int mnist_sim_s2mm_state(void* h, uint64_t* bytes) {
    Sim& s = *static_cast<Sim*>(h);
    *bytes = s.s2mm.pos;
    return s.s2mm.state;
}

// Stream framing for the pending-work estimate: beats per image in, words per image out.
void mnist_sim_set_framing(void* h, uint32_t beats_per_image, uint32_t words_per_image) {
    Flow& f = static_cast<Sim*>(h)->flow;
    f.beats_per_image = beats_per_image ? beats_per_image : 1;
    f.words_per_image = words_per_image;
}

// Clock until no channel is busy, or no beat moved for `idle_limit` cycles
// while the engine has pending work (`starve_limit` cycles when it has none,
// i.e. it waits for the host), or `max_cycles` ran. Returns the reason;
// *ran gets the cycle count.
int mnist_sim_run(void* h, uint64_t max_cycles, uint64_t idle_limit, uint64_t starve_limit,
                  uint64_t* ran) {
    Sim& s = *static_cast<Sim*>(h);
    uint64_t start = s.cycles;
    s.last_beat_cycle = s.cycles;
    int reason = RUN_CYCLE_CAP;
    while (s.cycles - start < max_cycles) {
        if (streams_quiescent(s)) {
            reason = RUN_QUIESCENT;
            break;
        }
        uint64_t limit = s.flow.pending() ? idle_limit : starve_limit;
        if (s.cycles - s.last_beat_cycle >= limit) {
            reason = RUN_NO_PROGRESS;
            break;
        }
        step(s);
    }
    *ran = s.cycles - start;
    return reason;
}

// Plain clocking with no stop condition (settling after register writes).
void mnist_sim_tick(void* h, uint64_t n) {
    Sim& s = *static_cast<Sim*>(h);
    for (uint64_t i = 0; i < n; ++i) step(s);
}

uint64_t mnist_sim_cycles(void* h) { return static_cast<Sim*>(h)->cycles; }

// Protocol violations seen so far: kind 0 = AXI4-Lite, 1 = m_axis.
uint64_t mnist_sim_violations(void* h, int kind) {
    const Violations& v = static_cast<Sim*>(h)->violations;
    return kind == 0 ? v.lite : v.axis;
}

int mnist_sim_interrupt(void* h) { return interrupt_of(*static_cast<Sim*>(h)->top, 0); }

void mnist_sim_fault_drop_tlast(void* h, int on) {
    static_cast<Sim*>(h)->faults.drop_tlast = on != 0;
}

void mnist_sim_fault_stall_m_axis(void* h, int on) {
    static_cast<Sim*>(h)->faults.stall_m_axis = on != 0;
}

// Seeded random bubbles on s_axis and backpressure on m_axis, per mille of cycles.
void mnist_sim_fault_random(void* h, uint64_t seed, uint32_t idle_permille,
                            uint32_t backpressure_permille) {
    Faults& f = static_cast<Sim*>(h)->faults;
    f.rng = seed ? seed : 0x9E3779B97F4A7C15ull;  // xorshift must not start at 0
    f.idle_permille = idle_permille;
    f.backpressure_permille = backpressure_permille;
}

// Flip `bit` of the next AXI4-Lite write data whose address is in [lo, hi).
void mnist_sim_fault_corrupt_write(void* h, uint32_t lo, uint32_t hi, int bit) {
    Faults& f = static_cast<Sim*>(h)->faults;
    f.corrupt_lo = lo;
    f.corrupt_hi = hi;
    f.corrupt_bit = bit;
}

// The next MM2S (S2MM) transfer gets error response `resp` (2 SLVERR, 3 DECERR)
// for the memory access at byte `at` of its buffer.
void mnist_sim_fault_mm2s_error(void* h, uint64_t at, int resp) {
    Faults& f = static_cast<Sim*>(h)->faults;
    f.mm2s_error_at = at;
    f.mm2s_error_resp = resp;
}
void mnist_sim_fault_s2mm_error(void* h, uint64_t at, int resp) {
    Faults& f = static_cast<Sim*>(h)->faults;
    f.s2mm_error_at = at;
    f.s2mm_error_resp = resp;
}

// The next S2MM packet ends (as if TLAST came) after `bytes` bytes.
void mnist_sim_fault_short_s2mm(void* h, uint64_t bytes) {
    static_cast<Sim*>(h)->faults.s2mm_short_at = bytes;
}

// The next soft reset takes `cycles` more cycles.
void mnist_sim_fault_slow_reset(void* h, uint64_t cycles) {
    static_cast<Sim*>(h)->faults.slow_reset_cycles = cycles;
}

// `beats` stale beats (no TLAST) sit in the MM2S FIFO, as an aborted transfer leaves them.
void mnist_sim_fault_residual(void* h, uint32_t beats) {
    Mm2s& m = static_cast<Sim*>(h)->mm2s;
    for (uint32_t i = 0; i < beats; ++i) m.fifo.push_back(Beat{0xA5A5A5A5u ^ i, 0xF, false});
}

void mnist_sim_fault_clear(void* h) { static_cast<Sim*>(h)->faults = Faults{}; }

}  // extern "C"
