# overlay/bd.tcl: the block design of docs/architecture.md (UG994), for every
# board of config.tcl (a Zynq-7000 PS7 or a Zynq UltraScale+ zynq_ultra_ps_e).
#
#  PS (DDR) ==HP== SmartConnect == AXI DMA (simple mode) --MM2S AXIS--> mnist_accel
#                                                        <--S2MM AXIS-- mnist_accel
#  PS master --- AXI Interconnect --> axi_dma/S_AXI_LITE, mnist_accel/s_axi_ctrl
#
#  family     PS cell             master          HP slave        PL clock / reset
#  Zynq-7000  processing_system7  M_AXI_GP0       S_AXI_HP0       FCLK_CLK0 / FCLK_RESET0_N
#  ZynqMP     zynq_ultra_ps_e     M_AXI_HPM0_FPD  S_AXI_HP0_FPD   pl_clk0 / pl_resetn0
#
# (the names come from config.tcl's FAMILIES, i.e. pynq_mnist/hardware/boards.py).
#
# No interrupt is wired: pynq 3.x creates Interrupt objects only for pins that
# reach an axi_intc (its .hwh parser walks from the PS's IRQ inputs through
# xlconcat cells to axi_intc/intr), and both the driver and pynq's DMA poll.
# mnist_accel/interrupt and the DMA's mm2s_introut/s2mm_introut stay open.
#
# Defines procs only; build.tcl sources it and calls mnist::create_bd. Cell
# names, addresses, ranges and DMA parameters come from config.tcl. Tcl 8.5
# only (Vivado 2022.1): no lmap, try, string cat, ... (tests/overlay).

namespace eval mnist {
    variable RESET_VLNV     xilinx.com:ip:proc_sys_reset:5.0
    variable CTRL_IC_VLNV   xilinx.com:ip:axi_interconnect:2.1
    variable MEM_IC_VLNV    xilinx.com:ip:smartconnect:1.0

    variable CTRL_IC_CELL   ps7_axi_periph
    variable MEM_IC_CELL    axi_mem_smc

    # Fallback PS settings when the board files are not installed. A PYNQ
    # overlay does not reconfigure the PS (the image's boot loader did that);
    # these values only have to validate and to give the .hwh the PL clock
    # divisors of the board's reference clock and PLL, which is what pynq
    # reads to set the PL clock at download. PS7: per the boards' reference
    # manuals (512 MiB DDR3, 16-bit, two MIO banks at 3.3 V / 1.8 V). The
    # crystal (PS7) / PSS_REF_CLK (ZynqMP) comes from config.tcl; the ZynqMP
    # boards keep the IP's DDR defaults (assign_addresses stops the build if
    # those lack one of the board's DDR segments).
    variable PS_FALLBACK_PRESET {
        pynq-z1 {
            PCW_PRESET_BANK0_VOLTAGE {LVCMOS 3.3V}
            PCW_PRESET_BANK1_VOLTAGE {LVCMOS 1.8V}
            PCW_UIPARAM_DDR_MEMORY_TYPE {DDR 3}
            PCW_UIPARAM_DDR_PARTNO {MT41J256M16 RE-125}
            PCW_UIPARAM_DDR_BUS_WIDTH {16 Bit}
            PCW_UIPARAM_DDR_FREQ_MHZ 525
        }
        pynq-z2 {
            PCW_PRESET_BANK0_VOLTAGE {LVCMOS 3.3V}
            PCW_PRESET_BANK1_VOLTAGE {LVCMOS 1.8V}
            PCW_UIPARAM_DDR_MEMORY_TYPE {DDR 3}
            PCW_UIPARAM_DDR_PARTNO {MT41J256M16 RE-125}
            PCW_UIPARAM_DDR_BUS_WIDTH {16 Bit}
            PCW_UIPARAM_DDR_FREQ_MHZ 525
        }
    }
}

# One value of the board table (config.tcl BOARDS).
proc mnist::board_info {board key} {
    variable BOARDS
    return [dict get $BOARDS $board $key]
}

# One value of the board's PS family (config.tcl FAMILIES).
proc mnist::family_info {board key} {
    variable FAMILIES
    return [dict get $FAMILIES [board_info $board family] $key]
}

# {DIVISOR0 DIVISOR1 MHz} of the PL clock: the family's PLL over two 6-bit
# divisors within 0.01 % of mhz, chosen as design.fclk_divisors (and the PS
# wizards) choose: nearest first, then DIVISOR1 = 1 where it can (ZynqMP),
# else the smallest larger divisor, the larger DIVISOR0 first (Zynq-7000).
proc mnist::pl_clock_divisors {board mhz} {
    set pll [family_info $board pll_mhz]
    set divisor1_is_one [family_info $board pl_divisor1_is_one]
    set best {}
    for {set d0 1} {$d0 < 64} {incr d0} {
        for {set d1 1} {$d1 < 64} {incr d1} {
            set actual [expr {double($pll) / ($d0 * $d1)}]
            set deviation [expr {abs($actual - $mhz)}]
            if {$deviation > 1e-4 * $mhz} {
                continue
            }
            if {$divisor1_is_one} {
                set key [list $deviation $d1 $d0]
            } else {
                set key [list $deviation [expr {max($d0, $d1)}] [expr {-$d0}]]
            }
            if {$best eq "" || [key_less $key [lindex $best 0]]} {
                set best [list $key $d0 $d1 $actual]
            }
        }
    }
    if {$best eq ""} {
        error "PL clock $mhz MHz is not the [family_info $board pll_name]\
               ([family_info $board pll_mhz] MHz) divided by two 6-bit divisors"
    }
    return [lrange $best 1 end]
}

# Lexicographic a < b over lists of numbers.
proc mnist::key_less {a b} {
    foreach x $a y $b {
        if {$x < $y} {
            return 1
        }
        if {$x > $y} {
            return 0
        }
    }
    return 0
}

# The PS IP's name: processing_system7 or zynq_ultra_ps_e (for messages).
proc mnist::ps_name {board} {
    return [lindex [split [family_info $board ps_vlnv] :] 2]
}

# CONFIG.<key> <value> list for set_property -dict.
proc mnist::config_dict {pairs} {
    set out {}
    foreach {key value} $pairs {
        lappend out CONFIG.$key $value
    }
    return $out
}

# The PS after the board preset (or fallback): its master for control, its HP
# port for the DMA at hp_width, the PL clock at fclk_mhz from the family's
# PLL, and nothing else of the PL side. pynq reads the PL clock divisors and
# the HP width from the .hwh and programs them when it downloads the bitstream.
proc mnist::configure_ps {board use_board_preset fclk_mhz hp_width} {
    variable PS_FALLBACK_PRESET
    set ps [create_bd_cell -type ip -vlnv [family_info $board ps_vlnv] \
                [family_info $board ps_instance]]
    set family [board_info $board family]
    set ref_clk [family_info $board ref_clk_mhz]
    set pll [family_info $board pll_name]
    if {$family eq "zynq"} {
        set rule xilinx.com:bd_rule:processing_system7
        set fallback [list PCW_CRYSTAL_PERIPHERAL_FREQMHZ $ref_clk]
        # DDR and FIXED_IO are PS7 pins the wrapper must bring out.
        set automation [list make_external {FIXED_IO, DDR} Master Disable Slave Disable]
        set actual_key PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ
        set pl_settings [list \
            PCW_USE_M_AXI_GP0 1 \
            PCW_USE_S_AXI_HP0 1 \
            PCW_S_AXI_HP0_DATA_WIDTH $hp_width \
            PCW_FPGA_FCLK0_ENABLE 1 \
            PCW_FCLK0_PERIPHERAL_CLKSRC $pll \
            PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz]
    } else {
        set rule xilinx.com:bd_rule:zynq_ultra_ps_e
        set fallback [list PSU__PSS_REF_CLK__FREQMHZ $ref_clk]
        # The ZynqMP PS has no DDR/MIO pins in the block design: the rule only
        # applies the preset.
        set automation {}
        set actual_key PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ
        # UG1085: M_AXI_GP0 = HPM0_FPD, GP1 = HPM1_FPD, GP2 = HPM0_LPD;
        # S_AXI_GP2 = S_AXI_HP0_FPD. The unused masters go (their clock pins
        # would be left unconnected), so do the PL-to-PS interrupt inputs.
        set pl_settings [list \
            PSU__USE__M_AXI_GP0 1 \
            PSU__USE__M_AXI_GP1 0 \
            PSU__USE__M_AXI_GP2 0 \
            PSU__USE__IRQ0 0 \
            PSU__USE__IRQ1 0 \
            PSU__USE__S_AXI_GP2 1 \
            PSU__SAXIGP2__DATA_WIDTH $hp_width \
            PSU__FPGA_PL0_ENABLE 1 \
            PSU__CRL_APB__PL0_REF_CTRL__SRCSEL $pll \
            PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $fclk_mhz]
    }
    if {$use_board_preset} {
        apply_bd_automation -rule $rule -config [concat $automation apply_board_preset 1] $ps
    } else {
        if {[dict exists $PS_FALLBACK_PRESET $board]} {
            lappend fallback {*}[dict get $PS_FALLBACK_PRESET $board]
        }
        set_property -dict [config_dict $fallback] $ps
        if {[llength $automation] > 0} {
            apply_bd_automation -rule $rule \
                -config [concat $automation apply_board_preset 0] $ps
        }
    }
    # After the preset, which would otherwise overwrite these.
    set_property -dict [config_dict $pl_settings] $ps
    lassign [pl_clock_divisors $board $fclk_mhz] divisor0 divisor1 expected
    set expected [format %.6f $expected]
    msg INFO "PL clock: $pll ([family_info $board pll_mhz] MHz) / $divisor0 / $divisor1\
        = $expected MHz"
    set actual [get_property CONFIG.$actual_key $ps]
    if {$actual ne "" && abs($actual - $expected) > 1e-4 * $expected} {
        msg CRITICAL_WARNING "PL clock requested $fclk_mhz MHz ($pll / $divisor0 / $divisor1\
            = $expected MHz), [ps_name $board] gives $actual MHz"
    }
    return $ps
}

proc mnist::create_cells {board num_banks} {
    variable VLNV
    variable ACCEL_INSTANCE
    variable DMA_VLNV
    variable DMA_INSTANCE
    variable RESET_VLNV
    variable CTRL_IC_VLNV
    variable CTRL_IC_CELL
    variable MEM_IC_VLNV
    variable MEM_IC_CELL

    create_bd_cell -type ip -vlnv $RESET_VLNV [family_info $board reset_instance]

    set ic [create_bd_cell -type ip -vlnv $CTRL_IC_VLNV $CTRL_IC_CELL]
    set_property -dict [config_dict {NUM_SI 1 NUM_MI 2}] $ic

    set smc [create_bd_cell -type ip -vlnv $MEM_IC_VLNV $MEM_IC_CELL]
    set_property -dict [config_dict {NUM_SI 2 NUM_MI 1}] $smc

    # Simple mode first: the width/burst parameters of PG021 depend on it.
    set dma [create_bd_cell -type ip -vlnv $DMA_VLNV $DMA_INSTANCE]
    set mode_keys {c_include_sg c_micro_dma c_include_mm2s c_include_s2mm}
    set mode {}
    set rest {}
    foreach {key value} [family_info $board dma_parameters] {
        if {$key in $mode_keys} {
            lappend mode $key $value
        } else {
            lappend rest $key $value
        }
    }
    set_property -dict [config_dict $mode] $dma
    set_property -dict [config_dict $rest] $dma

    set accel [create_bd_cell -type ip -vlnv $VLNV $ACCEL_INSTANCE]
    set_property -dict [config_dict [list NUM_BANKS $num_banks]] $accel
}

proc mnist::connect {board} {
    variable CTRL_IC_CELL
    variable MEM_IC_CELL
    variable DMA_INSTANCE
    variable ACCEL_INSTANCE
    variable ACCEL_CTRL_INTERFACE
    set ps [family_info $board ps_instance]
    set rst [family_info $board reset_instance]
    set dma $DMA_INSTANCE
    set acc $ACCEL_INSTANCE

    # Control: PS master -> interconnect -> M00 accelerator, M01 DMA registers.
    foreach {from to} [list \
        $ps/[family_info $board ctrl_master]    $CTRL_IC_CELL/S00_AXI \
        $CTRL_IC_CELL/M00_AXI                   $acc/$ACCEL_CTRL_INTERFACE \
        $CTRL_IC_CELL/M01_AXI                   $dma/S_AXI_LITE \
        $dma/M_AXI_MM2S                         $MEM_IC_CELL/S00_AXI \
        $dma/M_AXI_S2MM                         $MEM_IC_CELL/S01_AXI \
        $MEM_IC_CELL/M00_AXI                    $ps/[family_info $board mem_slave] \
        $dma/M_AXIS_MM2S                        $acc/s_axis \
        $acc/m_axis                             $dma/S_AXIS_S2MM \
    ] {
        connect_bd_intf_net [get_bd_intf_pins $from] [get_bd_intf_pins $to]
    }

    # One clock domain: the PS's PL clock.
    set clock_pins [list \
        $ps/[family_info $board ctrl_master_clock] $ps/[family_info $board mem_slave_clock] \
        $rst/slowest_sync_clk \
        $CTRL_IC_CELL/ACLK $CTRL_IC_CELL/S00_ACLK \
        $CTRL_IC_CELL/M00_ACLK $CTRL_IC_CELL/M01_ACLK \
        $MEM_IC_CELL/aclk \
        $dma/s_axi_lite_aclk $dma/m_axi_mm2s_aclk $dma/m_axi_s2mm_aclk \
        $acc/aclk]
    connect_bd_net [get_bd_pins $ps/[family_info $board pl_clock]] {*}[bd_pins $clock_pins]

    connect_bd_net [get_bd_pins $ps/[family_info $board pl_reset]] \
        [get_bd_pins $rst/ext_reset_in]
    connect_bd_net [get_bd_pins $rst/interconnect_aresetn] \
        [get_bd_pins $CTRL_IC_CELL/ARESETN]
    set reset_pins [list \
        $CTRL_IC_CELL/S00_ARESETN $CTRL_IC_CELL/M00_ARESETN $CTRL_IC_CELL/M01_ARESETN \
        $MEM_IC_CELL/aresetn $dma/axi_resetn $acc/aresetn]
    connect_bd_net [get_bd_pins $rst/peripheral_aresetn] {*}[bd_pins $reset_pins]
}

# The pin objects of a list of cell/pin paths.
proc mnist::bd_pins {paths} {
    set pins {}
    foreach path $paths {
        lappend pins [get_bd_pins $path]
    }
    return $pins
}

# Fixed addresses (the family's bases, the board's memory), then a read-back
# check of every segment assigned.
proc mnist::assign_addresses {board} {
    variable ACCEL_INSTANCE
    variable ACCEL_CTRL_INTERFACE
    variable ACCEL_ADDRESS_BLOCK
    variable ACCEL_RANGE
    variable DMA_INSTANCE
    variable DMA_RANGE
    set ps [family_info $board ps_instance]
    set expected [list \
        $ps/Data $ACCEL_INSTANCE/$ACCEL_CTRL_INTERFACE/$ACCEL_ADDRESS_BLOCK \
            [family_info $board accel_base] $ACCEL_RANGE \
        $ps/Data $DMA_INSTANCE/S_AXI_LITE/Reg [family_info $board dma_base] $DMA_RANGE]
    # The DMA reaches all of the board's DDR through the PS's HP port.
    set port [family_info $board mem_slave_port]
    foreach space {Data_MM2S Data_S2MM} {
        foreach block [board_info $board memory] {
            lassign $block name base span
            lappend expected $DMA_INSTANCE/$space $ps/$port/$name $base $span
        }
    }
    foreach {space slave offset range} $expected {
        if {[llength [get_bd_addr_segs -quiet $slave]] == 0} {
            error "[ps_name $board] has no address segment $slave for $space (its DDR\
                   configuration lacks it): build with the board files of $board"
        }
        assign_bd_address -offset $offset -range $range \
            -target_address_space [get_bd_addr_spaces $space] [get_bd_addr_segs $slave] -force
    }
    foreach {space slave offset range} $expected {
        set found 0
        foreach seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces $space]] {
            set target [string trimleft [get_bd_addr_segs -of_objects $seg] /]
            if {$target ne $slave} {
                continue
            }
            set found 1
            set got_offset [to_bytes [get_property OFFSET $seg]]
            set got_range [to_bytes [get_property RANGE $seg]]
            if {$got_offset != $offset || $got_range != $range} {
                error [format "address of %s in %s is 0x%08lX (range 0x%lX),\
                               expected 0x%08lX (range 0x%lX)" \
                           $slave $space $got_offset $got_range $offset $range]
            }
        }
        if {!$found} {
            error "no segment of $space maps $slave"
        }
    }
}

# Vivado reports sizes as 0x10000, 65536 or 64K.
proc mnist::to_bytes {value} {
    set units {K 1024 M 1048576 G 1073741824}
    if {[regexp {^([0-9]+)\s*([KMG])$} $value -> number unit]} {
        return [expr {$number * [dict get $units $unit]}]
    }
    return [expr {$value + 0}]
}

# Every IP the design instantiates must be in this Vivado's catalog at the
# version config.tcl names (the .hwh states it; zynq_ultra_ps_e, for one,
# changes version between Vivado releases): one clear error before any cell.
proc mnist::check_ip_catalog {board} {
    variable VLNV
    variable DMA_VLNV
    variable RESET_VLNV
    variable CTRL_IC_VLNV
    variable MEM_IC_VLNV
    set vlnvs [list [family_info $board ps_vlnv] $RESET_VLNV $CTRL_IC_VLNV $MEM_IC_VLNV \
                   $DMA_VLNV $VLNV]
    foreach vlnv $vlnvs {
        if {[llength [get_ipdefs -all -quiet $vlnv]] > 0} {
            continue
        }
        set others [get_ipdefs -all -quiet [join [lrange [split $vlnv :] 0 2] :]:*]
        error "Vivado [version -short] has no $vlnv in its IP catalog\
               (it has: [expr {[llength $others] ? [join $others {, }] : {no version}}])"
    }
}

# Build, validate and save the complete block design.
proc mnist::create_bd {design_name board use_board_preset fclk_mhz num_banks hp_width} {
    check_ip_catalog $board
    create_bd_design $design_name
    configure_ps $board $use_board_preset $fclk_mhz $hp_width
    create_cells $board $num_banks
    connect $board
    assign_addresses $board
    validate_bd_design
    save_bd_design
}
