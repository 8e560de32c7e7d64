# overlay/build.tcl: one-command Vivado batch build of the pynq-mnist overlay.
#
#   vivado -mode batch -source build.tcl -tclargs board pynq-z2 [key value ...]
#
# (normally through `make -C overlay BOARD=pynq-z2`). Keys:
#   board        pynq-z1 | pynq-z2 | kv260 | zcu104 | ultra96v2  (required;
#                config.tcl's BOARDS, from pynq_mnist/hardware/boards.py)
#   step         ip | bd | bitstream                        (default bitstream)
#   fclk_mhz     the PL clock in MHz (FCLK_CLK0 / pl_clk0)  (default: the board's)
#   hp_width     the DMA's HP port data width               (default: the PS family's)
#   num_banks    32 | 64 | 128                              (default regmap.DEFAULT_NUM_BANKS)
#   jobs         parallel synthesis/implementation jobs     (default 2)
#   build_dir    scratch directory                          (default ./build/<board>)
#   out_dir      where mnist.bit + mnist.hwh go  (default pynq_mnist/overlays/<$BOARD>,
#                $BOARD as PYNQ images set it: Pynq-Z1, Pynq-Z2, KV260, ZCU104, Ultra96V2)
#   allow_version_mismatch 0|1  run on an untested Vivado version
#   allow_timing_failure   0|1  keep a bitstream that does not meet timing
#   board_repo   a board-files directory for Vivado (set_param board.repoPaths)
#   require_board_files    0|1  fail when the board part is not installed,
#                               rather than fall back to bd.tcl's PS fallback preset
#
# Steps: "ip" packages hw/rtl; "bd" also creates the project and the
# validated block design and copies its .hwh into build_dir; "bitstream" also
# runs synthesis, implementation and write_bitstream, then copies mnist.bit and
# mnist.hwh together into out_dir.

namespace eval mnist {
    variable SCRIPT_DIR [file dirname [file normalize [info script]]]
    variable REPO_ROOT  [file dirname $SCRIPT_DIR]
    variable DESIGN_NAME mnist
    # PYNQ v3.1 images (PYNQ-Z1/Z2) were built with 2024.1, v3.0.x with 2022.1.
    variable VIVADO_TARGET 2024.1
    variable VIVADO_SUPPORTED {2024.1 2022.1}
}

source [file join $mnist::SCRIPT_DIR config.tcl]
source [file join $mnist::SCRIPT_DIR package_ip.tcl]
source [file join $mnist::SCRIPT_DIR bd.tcl]

# key/value argv -> dict with defaults filled in; errors name the bad value.
proc mnist::parse_args {argv} {
    variable BOARDS
    variable BOARD_KEYS
    variable NUM_BANKS_DEFAULT
    variable NUM_BANKS_SUPPORTED
    variable REPO_ROOT
    if {[llength $argv] % 2 != 0} {
        error "arguments must be key value pairs, got: $argv"
    }
    set opts [dict create step bitstream fclk_mhz "" hp_width "" num_banks $NUM_BANKS_DEFAULT \
                  jobs 2 build_dir "" out_dir "" board_repo "" \
                  allow_version_mismatch 0 allow_timing_failure 0 require_board_files 0]
    set known [concat board [dict keys $opts]]
    foreach {key value} $argv {
        if {$key ni $known} {
            error "unknown argument '$key' (known: [join $known {, }])"
        }
        dict set opts $key $value
    }
    if {![dict exists $opts board]} {
        error "missing argument: board ([join $BOARD_KEYS { | }])"
    }
    set board [dict get $opts board]
    if {![dict exists $BOARDS $board]} {
        error "board '$board' is not supported ([join $BOARD_KEYS { | }])"
    }
    if {[dict get $opts step] ni {ip bd bitstream}} {
        error "step '[dict get $opts step]' must be ip, bd or bitstream"
    }
    if {[dict get $opts fclk_mhz] eq ""} {
        dict set opts fclk_mhz [board_info $board fclk_mhz]
    }
    set fclk [dict get $opts fclk_mhz]
    set family [family_info $board title]
    # Data-sheet PL clock limits: DS187 (Zynq-7000), DS925 (Zynq UltraScale+).
    set max_fclk [family_info $board max_fclk_mhz]
    if {![string is double -strict $fclk] || $fclk <= 0 || $fclk > $max_fclk} {
        error "fclk_mhz '$fclk' must be a number in (0, $max_fclk] ($family)"
    }
    if {[catch {pl_clock_divisors $board $fclk} message]} {
        error "fclk_mhz '$fclk': $message"
    }
    if {[dict get $opts hp_width] eq ""} {
        dict set opts hp_width [family_info $board default_hp_width]
    }
    set hp_widths [family_info $board hp_widths]
    if {[dict get $opts hp_width] ni $hp_widths} {
        error "hp_width '[dict get $opts hp_width]' must be one of $hp_widths ($family)"
    }
    if {[dict get $opts num_banks] ni $NUM_BANKS_SUPPORTED} {
        error "num_banks '[dict get $opts num_banks]' must be one of $NUM_BANKS_SUPPORTED"
    }
    set jobs [dict get $opts jobs]
    if {![string is integer -strict $jobs] || $jobs < 1} {
        error "jobs '$jobs' must be a positive integer"
    }
    foreach flag {allow_version_mismatch allow_timing_failure require_board_files} {
        if {[dict get $opts $flag] ni {0 1}} {
            error "$flag '[dict get $opts $flag]' must be 0 or 1"
        }
    }
    set board_repo [dict get $opts board_repo]
    if {$board_repo ne ""} {
        if {![file isdirectory $board_repo]} {
            error "board_repo '$board_repo' is not a directory"
        }
        dict set opts board_repo [file normalize $board_repo]
    }
    if {[dict get $opts build_dir] eq ""} {
        dict set opts build_dir [file join [pwd] build $board]
    }
    if {[dict get $opts out_dir] eq ""} {
        dict set opts out_dir \
            [file join $REPO_ROOT pynq_mnist overlays [board_info $board env_name]]
    }
    dict set opts build_dir [file normalize [dict get $opts build_dir]]
    dict set opts out_dir [file normalize [dict get $opts out_dir]]
    return $opts
}

# "2024.1" or "2024.1.2" -> 2024.1. Errors on an unsupported version unless allowed.
proc mnist::check_vivado_version {current allow_mismatch} {
    variable VIVADO_TARGET
    variable VIVADO_SUPPORTED
    set release [join [lrange [split $current .] 0 1] .]
    if {$release eq $VIVADO_TARGET} {
        msg INFO "Vivado $current (target $VIVADO_TARGET)"
        return ok
    }
    if {$release in $VIVADO_SUPPORTED} {
        msg WARNING "Vivado $current: supported, but the target version is $VIVADO_TARGET"
        return supported
    }
    set text "Vivado $current is not a supported version ($VIVADO_SUPPORTED; target\
              $VIVADO_TARGET, matching PYNQ v3.1 images)"
    if {!$allow_mismatch} {
        error "$text. Re-run with ALLOW_VERSION_MISMATCH=1 (make) or\
               'allow_version_mismatch 1' to try anyway."
    }
    msg CRITICAL_WARNING "$text; continuing because allow_version_mismatch is set"
    return mismatch
}

# The newest installed board part for board, or "" for the PS fallback preset
# of bd.tcl (an error instead when require is set). Logs which one is used.
proc mnist::find_board_part {board require} {
    set pattern [board_info $board board_part]
    set ps [ps_name $board]
    set parts [lsort -dictionary [get_board_parts -quiet $pattern]]
    if {[llength $parts] > 0} {
        set board_part [lindex $parts end]
        msg INFO "board part used: $board_part ($ps from the board preset)"
        return $board_part
    }
    set text "no board files for $board ($pattern) in Vivado's board repositories\
              (board.repoPaths: '[get_param board.repoPaths]')"
    if {$require} {
        error "$text. Install them, point BOARD_REPO at them, or drop\
               REQUIRE_BOARD_FILES=1 to build with the $ps fallback preset."
    }
    msg WARNING "$text; using the $ps fallback preset of bd.tcl"
    msg INFO "board part used: none (part [board_info $board part], $ps fallback preset)"
    return ""
}

# The block design's hardware handoff: <project>.gen/... since 2020.1,
# <project>.srcs/... before.
proc mnist::find_hwh {proj_dir design_name} {
    set hits [get_files -quiet -all ${design_name}.hwh]
    foreach pattern [list \
        [file join $proj_dir *.gen sources_1 bd $design_name hw_handoff ${design_name}.hwh] \
        [file join $proj_dir *.srcs sources_1 bd $design_name hw_handoff ${design_name}.hwh]] {
        lappend hits {*}[glob -nocomplain $pattern]
    }
    foreach hit $hits {
        if {[file exists $hit]} {
            return $hit
        }
    }
    error "no ${design_name}.hwh under $proj_dir: was generate_target run?"
}

proc mnist::check_run {run} {
    set progress [get_property PROGRESS [get_runs $run]]
    set status [get_property STATUS [get_runs $run]]
    if {$progress ne "100%" || [string match -nocase "*error*" $status]} {
        error "run $run did not complete: $status ($progress); see its runme.log"
    }
}

# The timing gate of PYNQ's own overlay builds (boards/*/check_timing.tcl):
# the routed timing summary must contain this line, which Vivado prints only
# when every user constraint (setup, hold, pulse width, on every clock) is met.
namespace eval mnist {
    variable TIMING_MET_LINE {All user specified timing constraints are met.}
}

# Reports of the routed design, then the gate. A design without timing paths
# (FCLK_CLK0 reaching no flip-flop, or unconstrained) has nothing to violate,
# so it is an error, too, even with allow_failure.
proc mnist::check_timing {report_dir allow_failure} {
    variable TIMING_MET_LINE
    open_run impl_1
    set report [file join $report_dir timing_summary.rpt]
    report_timing_summary -max_paths 10 -file $report
    report_utilization -file [file join $report_dir utilization.rpt]
    set setup [get_timing_paths -delay_type max -max_paths 1]
    set hold [get_timing_paths -delay_type min -max_paths 1]
    if {[llength $setup] == 0 || [llength $hold] == 0} {
        error "no timing paths in the routed design: the PL clock constrains nothing; see $report"
    }
    set wns [get_property SLACK $setup]
    set whs [get_property SLACK $hold]
    msg INFO "worst setup slack $wns ns, worst hold slack $whs ns"
    set f [open $report r]
    set lines [split [read $f] \n]
    close $f
    set met 0
    foreach line $lines {
        if {[string trim $line] eq $TIMING_MET_LINE} {
            set met 1
        }
    }
    if {!$met} {
        set text "timing not met: $report lacks '$TIMING_MET_LINE' (WNS $wns ns, WHS $whs ns);\
                  lower FCLK_MHZ or NUM_BANKS"
        if {!$allow_failure} {
            error $text
        }
        msg CRITICAL_WARNING "$text; keeping the bitstream because allow_timing_failure is set"
    }
    return [list $wns $whs]
}

proc mnist::main {argv} {
    variable REPO_ROOT
    variable DESIGN_NAME

    set opts [parse_args $argv]
    check_vivado_version [version -short] [dict get $opts allow_version_mismatch]
    set board [dict get $opts board]
    set build_dir [dict get $opts build_dir]
    set out_dir [dict get $opts out_dir]
    set jobs [dict get $opts jobs]
    set step [dict get $opts step]
    set part [board_info $board part]
    if {[dict get $opts board_repo] ne ""} {
        set_param board.repoPaths [list [dict get $opts board_repo]]
        msg INFO "board repository [dict get $opts board_repo]"
    }
    # Before any work: a missing board is known at once (and may be an error).
    if {$step ne "ip"} {
        set board_part [find_board_part $board [dict get $opts require_board_files]]
    }
    file mkdir $build_dir

    set ip_repo [file join $build_dir ip_repo]
    package_ip [file join $REPO_ROOT hw rtl] $ip_repo [file join $build_dir ip_pkg] $part
    if {$step eq "ip"} {
        return
    }

    set proj_dir [file join $build_dir vivado]
    create_project -force $DESIGN_NAME $proj_dir -part $part
    if {$board_part ne ""} {
        set_property BOARD_PART $board_part [current_project]
    }
    set_property TARGET_LANGUAGE Verilog [current_project]
    set_property IP_REPO_PATHS [list $ip_repo] [current_project]
    update_ip_catalog

    create_bd $DESIGN_NAME $board [expr {$board_part ne ""}] \
        [dict get $opts fclk_mhz] [dict get $opts num_banks] [dict get $opts hp_width]
    set bd_file [get_files ${DESIGN_NAME}.bd]
    generate_target all $bd_file
    set wrapper [make_wrapper -files $bd_file -top]
    add_files -norecurse $wrapper
    set_property TOP ${DESIGN_NAME}_wrapper [current_fileset]
    update_compile_order -fileset sources_1

    set hwh [find_hwh $proj_dir $DESIGN_NAME]
    if {$step eq "bd"} {
        # Not into out_dir: a new .hwh next to an older .bit would be a mismatched pair.
        file copy -force $hwh [file join $build_dir ${DESIGN_NAME}.hwh]
        msg INFO "block design validated; wrote [file join $build_dir ${DESIGN_NAME}.hwh]"
        return
    }

    launch_runs synth_1 -jobs $jobs
    wait_on_run synth_1
    check_run synth_1
    launch_runs impl_1 -to_step write_bitstream -jobs $jobs
    wait_on_run impl_1
    check_run impl_1
    check_timing $build_dir [dict get $opts allow_timing_failure]

    set bit [file join [get_property DIRECTORY [get_runs impl_1]] ${DESIGN_NAME}_wrapper.bit]
    if {![file exists $bit]} {
        error "bitstream $bit not found after impl_1"
    }
    # PYNQ needs <name>.bit and <name>.hwh side by side, same base name; both
    # are written only here, at the end, so a failed build leaves the last pair.
    file mkdir $out_dir
    file copy -force $bit [file join $out_dir ${DESIGN_NAME}.bit]
    file copy -force $hwh [file join $out_dir ${DESIGN_NAME}.hwh]
    msg INFO "wrote [file join $out_dir ${DESIGN_NAME}.bit] and ${DESIGN_NAME}.hwh"
}

# tests/overlay sources this file with Vivado stubs and calls mnist::main itself.
if {![info exists ::mnist_no_main]} {
    if {[catch {mnist::main $::argv} message]} {
        puts stderr "ERROR: \[mnist\] $message"
        exit 1
    }
    exit 0
}
