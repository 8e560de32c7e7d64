# overlay/bd.tcl: the block design of docs/architecture.md (UG994).
#
#  PS7 (DDR) ==HP0== SmartConnect == AXI DMA (simple mode) --MM2S AXIS--> mnist_accel
#                                                          <--S2MM AXIS-- mnist_accel
#  PS7 GP0 --- AXI Interconnect --> axi_dma/S_AXI_LITE, mnist_accel/s_axi_ctrl
#
# No interrupt is wired: pynq 3.x creates Interrupt objects only for pins that
# reach an axi_intc (its .hwh parser walks from the PS7's IRQ_F2P through
# xlconcat cells to axi_intc/intr), and both the driver and pynq's DMA poll.
# mnist_accel/interrupt and the DMA's mm2s_introut/s2mm_introut stay open.
#
# Defines procs only; build.tcl sources it and calls mnist::create_bd. Cell
# names, addresses, ranges and DMA parameters come from config.tcl. Tcl 8.5
# only (Vivado 2022.1): no lmap, try, string cat, ... (tests/test_overlay.py).

namespace eval mnist {
    variable PS7_VLNV       xilinx.com:ip:processing_system7:5.5
    variable RESET_VLNV     xilinx.com:ip:proc_sys_reset:5.0
    variable CTRL_IC_VLNV   xilinx.com:ip:axi_interconnect:2.1
    variable MEM_IC_VLNV    xilinx.com:ip:smartconnect:1.0

    variable PS7_CELL       processing_system7_0
    variable RESET_CELL     rst_ps7_fclk0
    variable CTRL_IC_CELL   ps7_axi_periph
    variable MEM_IC_CELL    axi_mem_smc

    # HP0 sees the 512 MiB of DDR of both boards at 0.
    variable HP0_DDR_OFFSET 0x00000000
    variable HP0_DDR_RANGE  0x20000000

    # Fallback PS7 settings when the board files are not installed. A PYNQ
    # overlay does not reconfigure the PS (the image's FSBL did that at boot);
    # these values only have to validate and to give the .hwh the FCLK
    # divisors of a 50 MHz crystal / 1000 MHz IO PLL, which is what pynq reads
    # to set FCLK0 at download. Values per the boards' reference manuals
    # (512 MiB DDR3, 16-bit, two MIO banks at 3.3 V / 1.8 V).
    variable PS7_FALLBACK_PRESET {
        pynq-z1 {
            PCW_CRYSTAL_PERIPHERAL_FREQMHZ 50
            PCW_PRESET_BANK0_VOLTAGE {LVCMOS 3.3V}
            PCW_PRESET_BANK1_VOLTAGE {LVCMOS 1.8V}
            PCW_UIPARAM_DDR_MEMORY_TYPE {DDR 3}
            PCW_UIPARAM_DDR_PARTNO {MT41J256M16 RE-125}
            PCW_UIPARAM_DDR_BUS_WIDTH {16 Bit}
            PCW_UIPARAM_DDR_FREQ_MHZ 525
        }
        pynq-z2 {
            PCW_CRYSTAL_PERIPHERAL_FREQMHZ 50
            PCW_PRESET_BANK0_VOLTAGE {LVCMOS 3.3V}
            PCW_PRESET_BANK1_VOLTAGE {LVCMOS 1.8V}
            PCW_UIPARAM_DDR_MEMORY_TYPE {DDR 3}
            PCW_UIPARAM_DDR_PARTNO {MT41J256M16 RE-125}
            PCW_UIPARAM_DDR_BUS_WIDTH {16 Bit}
            PCW_UIPARAM_DDR_FREQ_MHZ 525
        }
    }
}

# CONFIG.<key> <value> list for set_property -dict.
proc mnist::config_dict {pairs} {
    set out {}
    foreach {key value} $pairs {
        lappend out CONFIG.$key $value
    }
    return $out
}

# PS7 after the board preset (or fallback): GP0 for control, HP0 for the DMA,
# FCLK0 at fclk_mhz. pynq reads
# PCW_FPGA_FCLK0_ENABLE and PCW_FCLK0_PERIPHERAL_DIVISOR0/1 from the .hwh and
# programs FCLK0 with them when it downloads the bitstream.
proc mnist::configure_ps7 {board use_board_preset fclk_mhz} {
    variable PS7_VLNV
    variable PS7_CELL
    variable PS7_FALLBACK_PRESET
    set ps [create_bd_cell -type ip -vlnv $PS7_VLNV $PS7_CELL]
    if {$use_board_preset} {
        set preset 1
    } else {
        set preset 0
        set_property -dict [config_dict [dict get $PS7_FALLBACK_PRESET $board]] $ps
    }
    # The automation only makes DDR and FIXED_IO external (and applies the
    # board preset); all AXI wiring below is explicit.
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config [list make_external {FIXED_IO, DDR} apply_board_preset $preset \
                     Master Disable Slave Disable] $ps
    # After the preset, which would otherwise overwrite these.
    set_property -dict [config_dict [list \
        PCW_USE_M_AXI_GP0 1 \
        PCW_USE_S_AXI_HP0 1 \
        PCW_S_AXI_HP0_DATA_WIDTH 64 \
        PCW_FPGA_FCLK0_ENABLE 1 \
        PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz \
    ]] $ps
    set actual [get_property CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ $ps]
    if {$actual ne "" && abs($actual - $fclk_mhz) > 0.01 * $fclk_mhz} {
        msg CRITICAL_WARNING "FCLK_CLK0 requested $fclk_mhz MHz, PS7 divisors give $actual MHz"
    }
    return $ps
}

proc mnist::create_cells {num_banks} {
    variable VLNV
    variable ACCEL_INSTANCE
    variable DMA_VLNV
    variable DMA_INSTANCE
    variable DMA_PARAMETERS
    variable RESET_VLNV
    variable RESET_CELL
    variable CTRL_IC_VLNV
    variable CTRL_IC_CELL
    variable MEM_IC_VLNV
    variable MEM_IC_CELL

    create_bd_cell -type ip -vlnv $RESET_VLNV $RESET_CELL

    set ic [create_bd_cell -type ip -vlnv $CTRL_IC_VLNV $CTRL_IC_CELL]
    set_property -dict [config_dict {NUM_SI 1 NUM_MI 2}] $ic

    set smc [create_bd_cell -type ip -vlnv $MEM_IC_VLNV $MEM_IC_CELL]
    set_property -dict [config_dict {NUM_SI 2 NUM_MI 1}] $smc

    # Simple mode first: the width/burst parameters of PG021 depend on it.
    set dma [create_bd_cell -type ip -vlnv $DMA_VLNV $DMA_INSTANCE]
    set mode_keys {c_include_sg c_micro_dma c_include_mm2s c_include_s2mm}
    set mode {}
    set rest {}
    foreach {key value} $DMA_PARAMETERS {
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

proc mnist::connect {} {
    variable PS7_CELL
    variable RESET_CELL
    variable CTRL_IC_CELL
    variable MEM_IC_CELL
    variable DMA_INSTANCE
    variable ACCEL_INSTANCE
    variable ACCEL_CTRL_INTERFACE
    set ps $PS7_CELL
    set dma $DMA_INSTANCE
    set acc $ACCEL_INSTANCE

    # Control: GP0 -> interconnect -> M00 accelerator, M01 DMA registers.
    foreach {from to} [list \
        $ps/M_AXI_GP0          $CTRL_IC_CELL/S00_AXI \
        $CTRL_IC_CELL/M00_AXI  $acc/$ACCEL_CTRL_INTERFACE \
        $CTRL_IC_CELL/M01_AXI  $dma/S_AXI_LITE \
        $dma/M_AXI_MM2S        $MEM_IC_CELL/S00_AXI \
        $dma/M_AXI_S2MM        $MEM_IC_CELL/S01_AXI \
        $MEM_IC_CELL/M00_AXI   $ps/S_AXI_HP0 \
        $dma/M_AXIS_MM2S       $acc/s_axis \
        $acc/m_axis            $dma/S_AXIS_S2MM \
    ] {
        connect_bd_intf_net [get_bd_intf_pins $from] [get_bd_intf_pins $to]
    }

    # One clock domain: FCLK_CLK0.
    set clock_pins [list \
        $ps/M_AXI_GP0_ACLK $ps/S_AXI_HP0_ACLK \
        $RESET_CELL/slowest_sync_clk \
        $CTRL_IC_CELL/ACLK $CTRL_IC_CELL/S00_ACLK \
        $CTRL_IC_CELL/M00_ACLK $CTRL_IC_CELL/M01_ACLK \
        $MEM_IC_CELL/aclk \
        $dma/s_axi_lite_aclk $dma/m_axi_mm2s_aclk $dma/m_axi_s2mm_aclk \
        $acc/aclk]
    connect_bd_net [get_bd_pins $ps/FCLK_CLK0] {*}[bd_pins $clock_pins]

    connect_bd_net [get_bd_pins $ps/FCLK_RESET0_N] [get_bd_pins $RESET_CELL/ext_reset_in]
    connect_bd_net [get_bd_pins $RESET_CELL/interconnect_aresetn] \
        [get_bd_pins $CTRL_IC_CELL/ARESETN]
    set reset_pins [list \
        $CTRL_IC_CELL/S00_ARESETN $CTRL_IC_CELL/M00_ARESETN $CTRL_IC_CELL/M01_ARESETN \
        $MEM_IC_CELL/aresetn $dma/axi_resetn $acc/aresetn]
    connect_bd_net [get_bd_pins $RESET_CELL/peripheral_aresetn] {*}[bd_pins $reset_pins]
}

# The pin objects of a list of cell/pin paths.
proc mnist::bd_pins {paths} {
    set pins {}
    foreach path $paths {
        lappend pins [get_bd_pins $path]
    }
    return $pins
}

# Fixed addresses (regmap.py), then a read-back check of the PS7 view.
proc mnist::assign_addresses {} {
    variable PS7_CELL
    variable ACCEL_INSTANCE
    variable ACCEL_CTRL_INTERFACE
    variable ACCEL_ADDRESS_BLOCK
    variable ACCEL_BASE
    variable ACCEL_RANGE
    variable DMA_INSTANCE
    variable DMA_BASE
    variable DMA_RANGE
    variable HP0_DDR_OFFSET
    variable HP0_DDR_RANGE
    set ps_data [get_bd_addr_spaces $PS7_CELL/Data]
    set expected [list \
        $ACCEL_INSTANCE/$ACCEL_CTRL_INTERFACE/$ACCEL_ADDRESS_BLOCK $ACCEL_BASE $ACCEL_RANGE \
        $DMA_INSTANCE/S_AXI_LITE/Reg $DMA_BASE $DMA_RANGE]
    foreach {slave offset range} $expected {
        assign_bd_address -offset $offset -range $range \
            -target_address_space $ps_data [get_bd_addr_segs $slave] -force
    }
    foreach space {Data_MM2S Data_S2MM} {
        assign_bd_address -offset $HP0_DDR_OFFSET -range $HP0_DDR_RANGE \
            -target_address_space [get_bd_addr_spaces $DMA_INSTANCE/$space] \
            [get_bd_addr_segs $PS7_CELL/S_AXI_HP0/HP0_DDR_LOWOCM] -force
    }
    foreach {slave offset range} $expected {
        set found 0
        foreach seg [get_bd_addr_segs -of_objects $ps_data] {
            set target [string trimleft [get_bd_addr_segs -of_objects $seg] /]
            if {$target ne $slave} {
                continue
            }
            set found 1
            set got_offset [to_bytes [get_property OFFSET $seg]]
            set got_range [to_bytes [get_property RANGE $seg]]
            if {$got_offset != $offset || $got_range != $range} {
                error [format "address of %s is 0x%08X (range 0x%X), expected 0x%08X (range 0x%X)" \
                           $slave $got_offset $got_range $offset $range]
            }
        }
        if {!$found} {
            error "no segment of $ps_data maps $slave"
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

# Build, validate and save the complete block design.
proc mnist::create_bd {design_name board use_board_preset fclk_mhz num_banks} {
    create_bd_design $design_name
    configure_ps7 $board $use_board_preset $fclk_mhz
    create_cells $num_banks
    connect
    assign_addresses
    validate_bd_design
    save_bd_design
}
