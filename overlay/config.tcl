# overlay/config.tcl: generated from pynq_mnist/hardware, do not edit.
# Regenerate with: python -m pynq_mnist.hardware.generate --write
# (tests/hardware/test_generate.py fails when this file is stale.)

namespace eval mnist {
    variable VLNV                 pynq-mnist.dev:user:mnist_accel:1.0  ;# accelerator IP (driver bindto)
    variable TOP_MODULE           mnist_top  ;# RTL top packaged as the IP
    variable ACCEL_INSTANCE       mnist_accel  ;# block-design cell name
    variable ACCEL_RANGE          0x00040000  ;# registers + weight window
    variable ACCEL_CTRL_INTERFACE s_axi_ctrl  ;# AXI4-Lite bus interface
    variable ACCEL_ADDRESS_BLOCK  reg0  ;# the single address block of that interface
    variable AXIL_ADDR_WIDTH      18  ;# s_axi_ctrl address bits
    variable AXIL_DATA_WIDTH      32  ;# s_axi_ctrl data bits
    variable STREAM_DATA_WIDTH    32  ;# s_axis/m_axis TDATA bits
    variable WEIGHT_WINDOW_OFFSET 0x20000  ;# inside the window
    variable NUM_BANKS_DEFAULT    64  ;# IP parameter default
    variable DMA_VLNV             xilinx.com:ip:axi_dma:7.1  ;# AXI DMA (PG021)
    variable DMA_INSTANCE         axi_dma  ;# block-design cell name
    variable DMA_RANGE            0x00010000  ;# S_AXI_LITE
    variable BOARD_DEFAULT        pynq-z2  ;# make -C overlay without BOARD=
    variable NUM_BANKS_SUPPORTED {32 64 128}
    # make -C overlay BOARD=<one of these> (overlay/Makefile reads this line)
    variable BOARD_KEYS {pynq-z1 pynq-z2 kv260 zcu104 ultra96v2}
    # boards.BOARDS; memory: {{hwh address block, base, span} ...} for the DMA
    variable BOARDS {
        pynq-z1 {title PYNQ-Z1 env_name Pynq-Z1 family zynq part xc7z020clg400-1 board_part {www.digilentinc.com:pynq-z1:part0:*} fclk_mhz 100 memory {{HP0_DDR_LOWOCM 0x00000000 0x20000000}}}
        pynq-z2 {title PYNQ-Z2 env_name Pynq-Z2 family zynq part xc7z020clg400-1 board_part {tul.com.tw:pynq-z2:part0:*} fclk_mhz 100 memory {{HP0_DDR_LOWOCM 0x00000000 0x20000000}}}
        kv260 {title {Kria KV260} env_name KV260 family zynqmp part xck26-sfvc784-2LV-c board_part {xilinx.com:kv260_som:part0:*} fclk_mhz 150 memory {{HP0_DDR_LOW 0x00000000 0x80000000} {HP0_DDR_HIGH 0x800000000 0x80000000}}}
        zcu104 {title ZCU104 env_name ZCU104 family zynqmp part xczu7ev-ffvc1156-2-e board_part {xilinx.com:zcu104:part0:*} fclk_mhz 150 memory {{HP0_DDR_LOW 0x00000000 0x80000000}}}
        ultra96v2 {title Ultra96-V2 env_name Ultra96V2 family zynqmp part xczu3eg-sbva484-1-e board_part {avnet.com:ultra96v2:part0:*} fclk_mhz 150 memory {{HP0_DDR_LOW 0x00000000 0x80000000}}}
    }
    # boards.FAMILIES; dma_parameters: PG021 CONFIG.* names, design.py order
    variable FAMILIES {
        zynq {
            title Zynq-7000
            arch zynq
            ps_instance processing_system7_0
            ps_vlnv xilinx.com:ip:processing_system7:5.5
            reset_instance rst_ps7_fclk0
            ctrl_master M_AXI_GP0
            mem_slave S_AXI_HP0
            mem_slave_port S_AXI_HP0
            ctrl_master_clock M_AXI_GP0_ACLK
            mem_slave_clock S_AXI_HP0_ACLK
            pl_clock FCLK_CLK0
            pl_reset FCLK_RESET0_N
            accel_base 0x43C00000
            dma_base 0x40400000
            ref_clk_mhz 50
            pll_name {IO PLL}
            pll_mhz 1000
            pl_divisor1_is_one 0
            max_fclk_mhz 250
            default_hp_width 64
            hp_widths {32 64}
            dma_parameters {
                c_include_sg 0
                c_sg_length_width 26
                c_include_mm2s 1
                c_include_s2mm 1
                c_m_axi_mm2s_data_width 32
                c_m_axis_mm2s_tdata_width 32
                c_m_axi_s2mm_data_width 32
                c_s_axis_s2mm_tdata_width 32
                c_include_mm2s_dre 0
                c_include_s2mm_dre 0
                c_mm2s_burst_size 16
                c_s2mm_burst_size 16
                c_addr_width 32
                c_micro_dma 0
            }
        }
        zynqmp {
            title {Zynq UltraScale+}
            arch zynquplus
            ps_instance zynq_ultra_ps_e_0
            ps_vlnv xilinx.com:ip:zynq_ultra_ps_e:3.5
            reset_instance rst_ps8_pl0
            ctrl_master M_AXI_HPM0_FPD
            mem_slave S_AXI_HP0_FPD
            mem_slave_port SAXIGP2
            ctrl_master_clock maxihpm0_fpd_aclk
            mem_slave_clock saxihp0_fpd_aclk
            pl_clock pl_clk0
            pl_reset pl_resetn0
            accel_base 0xA0000000
            dma_base 0xA0040000
            ref_clk_mhz 33.333
            pll_name IOPLL
            pll_mhz 1499.985
            pl_divisor1_is_one 1
            max_fclk_mhz 333
            default_hp_width 128
            hp_widths {32 64 128}
            dma_parameters {
                c_include_sg 0
                c_sg_length_width 26
                c_include_mm2s 1
                c_include_s2mm 1
                c_m_axi_mm2s_data_width 32
                c_m_axis_mm2s_tdata_width 32
                c_m_axi_s2mm_data_width 32
                c_s_axis_s2mm_tdata_width 32
                c_include_mm2s_dre 0
                c_include_s2mm_dre 0
                c_mm2s_burst_size 16
                c_s2mm_burst_size 16
                c_addr_width 64
                c_micro_dma 0
            }
        }
    }
    # {name offset size access description {{field lsb width access description} ...}}
    variable REGISTERS {
        {ID 0x00 32 read-only {Magic 'MN' [31:16], major [15:8], minor [7:0]} {{MINOR 0 8 read-only {minor version}} {MAJOR 8 8 read-only {major version}} {MAGIC 16 16 read-only {0x4D4E ('MN')}}}}
        {NUM_BANKS 0x04 32 read-only {NUM_BANKS parameter (= MAC lanes)} {{NUM_BANKS 0 32 read-only {weight banks / MAC lanes}}}}
        {LAYER_SIZES 0x08 32 read-only {N_IN [11:0], N_HID [23:12], N_OUT [31:24]} {{N_IN 0 12 read-only {input pixels (784)}} {N_HID 12 12 read-only {hidden neurons (128)}} {N_OUT 24 8 read-only {outputs (10)}}}}
        {CTRL 0x10 32 read-write {Control: START, SOFT_RESET (self-clearing), IRQ_EN} {{START 0 1 read-write {write 1 to start a batch (self-clearing)}} {SOFT_RESET 1 1 read-write {write 1 to abort and return to idle (self-clearing)}} {IRQ_EN 2 1 read-write {interrupt = STATUS.DONE & IRQ_EN}}}}
        {STATUS 0x14 32 read-write {Status: IDLE, BUSY, DONE (W1C), ERROR (W1C), START_REJECTED (W1C), DRAINING} {{IDLE 0 1 read-only {engine idle (not busy, not draining)}} {BUSY 1 1 read-only {batch in progress}} {DONE 2 1 read-write {batch done (W1C, cleared by START)}} {ERROR 3 1 read-write {framing error (W1C, cleared by START)}} {START_REJECTED 4 1 read-write {a START arrived while busy or draining (W1C; cleared by START and SOFT_RESET)}} {DRAINING 5 1 read-only {SOFT_RESET is draining the input packet to TLAST}}}}
        {ERROR_CAUSE 0x18 32 read-only {Framing error causes of the last batch} {{EARLY_TLAST 0 1 read-only {TLAST before the last beat}} {MISSING_TLAST 1 1 read-only {no TLAST on the last beat (extra beats)}} {BAD_TKEEP 2 1 read-only {TKEEP != 4'hF}} {ZERO_IMAGES 3 1 read-only {START with N_IMAGES = 0}}}}
        {N_IMAGES 0x1C 32 read-write {Images in the next batch} {{N_IMAGES 0 32 read-write {image count}}}}
        {SHIFT_L1 0x20 32 read-write {Layer-1 requantization right shift} {{SHIFT 0 5 read-write 0..31}}}
        {SHIFT_L2 0x24 32 read-write {Seed-digit right shift of the logits} {{SHIFT 0 5 read-write 0..31}}}
        {IMAGES_DONE 0x28 32 read-only {Result records emitted in the current/last batch} {{IMAGES_DONE 0 32 read-only count}}}
        {CYCLES 0x2C 32 read-only {Clock cycles of the last batch: START to last result beat} {{CYCLES 0 32 read-only count}}}
        {OWNER_TAG 0x30 32 read-write {Owner token; cleared by any weight-window or SHIFT_L1/SHIFT_L2 write} {{TAG 0 32 read-write {written by the owner after loading the weights}}}}
    }
}
