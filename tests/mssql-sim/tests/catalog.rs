//! Catalog views and functions through tiberius.

mod common;

use common::*;
use tiberius::ColumnData;

#[tokio::test]
async fn catalog_views_describe_tables_keys_and_identity() {
    let server = start();
    let mut c = connect(&server).await;
    exec(&mut c, "CREATE SCHEMA sales").await;
    exec(&mut c, "CREATE TABLE sales.Customer (id INT IDENTITY(1,1) NOT NULL CONSTRAINT PK_Customer PRIMARY KEY, name NVARCHAR(100) NOT NULL)").await;
    exec(
        &mut c,
        "CREATE TABLE sales.Orders (id BIGINT NOT NULL, line INT NOT NULL, customer_id INT NULL,
        CONSTRAINT PK_Orders PRIMARY KEY (id, line),
        CONSTRAINT FK_Orders_Customer FOREIGN KEY (customer_id) REFERENCES sales.Customer (id))",
    )
    .await;
    assert_eq!(
        rows(&mut c, "SELECT DB_NAME()").await,
        vec![vec![text("testdb")]]
    );
    let r = rows(
        &mut c,
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_NAME",
    )
    .await;
    assert_eq!(
        r,
        vec![
            vec![text("sales"), text("Customer")],
            vec![text("sales"), text("Orders")]
        ]
    );
    let r = rows(&mut c, "SELECT k.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS t JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE k ON k.CONSTRAINT_NAME = t.CONSTRAINT_NAME WHERE t.TABLE_NAME = 'Orders' AND t.CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY k.ORDINAL_POSITION").await;
    assert_eq!(r, vec![vec![text("id")], vec![text("line")]]);
    let r = rows(&mut c, "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'Customer' ORDER BY ORDINAL_POSITION").await;
    assert_eq!(
        r,
        vec![
            vec![text("id"), text("int"), text("NO")],
            vec![text("name"), text("nvarchar"), text("NO")]
        ]
    );
    let r = rows(&mut c, "SELECT UNIQUE_CONSTRAINT_NAME FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_NAME = 'FK_Orders_Customer'").await;
    assert_eq!(r, vec![vec![text("PK_Customer")]]);
    let r = rows(&mut c, "SELECT c.name FROM sys.columns c WHERE c.object_id = OBJECT_ID('sales.Customer') AND c.is_identity = 1").await;
    assert_eq!(r, vec![vec![text("id")]]);
    let r = rows(
        &mut c,
        "SELECT name FROM sys.identity_columns WHERE object_id = OBJECT_ID(N'sales.Customer')",
    )
    .await;
    assert_eq!(r, vec![vec![text("id")]]);
    let r = rows(&mut c, "SELECT COLUMNPROPERTY(OBJECT_ID('sales.Orders'), 'line', 'ColumnId'), COLUMNPROPERTY(OBJECT_ID('sales.Customer'), 'id', 'IsIdentity')").await;
    assert_eq!(r, vec![vec![int(2), int(1)]]);
    let r = rows(&mut c, "SELECT fk.name, OBJECT_NAME(fk.referenced_object_id) FROM sys.foreign_keys fk WHERE fk.parent_object_id = OBJECT_ID('sales.Orders')").await;
    assert_eq!(r, vec![vec![text("FK_Orders_Customer"), text("Customer")]]);
    let r = rows(
        &mut c,
        "SELECT parent_column_id, referenced_column_id FROM sys.foreign_key_columns",
    )
    .await;
    assert_eq!(r, vec![vec![int(3), int(1)]]);
    let r = rows(&mut c, "SELECT s.name FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id WHERE t.name = 'orders'").await;
    assert_eq!(r, vec![vec![text("sales")]]);
    let r = rows(&mut c, "SELECT OBJECT_ID('sales.Missing')").await;
    assert_eq!(r, vec![vec![ColumnData::I32(None)]]);
}
